import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// WebGPU in Node runs on SwiftShader from Debian's chromium package (see README).
// Set the variables here, before the test processes are forked, so `npm test` needs no setup.
const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(icd)) process.env.VK_ICD_FILENAMES = icd;
if (existsSync('/usr/lib/chromium/libvulkan.so.1') && !existsSync('/usr/lib/x86_64-linux-gnu/libvulkan.so.1')) {
  process.env.LD_LIBRARY_PATH = ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
