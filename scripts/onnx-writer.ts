// A small ONNX graph builder for the fixture model: the subset of onnx.proto
// (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) needed to write a float32 inference
// graph with initializers, encoded with protobufjs. Field numbers are onnx.proto's own.
import * as protobuf from 'protobufjs';

const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message AttributeProto {
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  int32 type = 20;
}
message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  string domain = 7;
}
message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  string name = 8;
  bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
`;

/** TensorProto.DataType values. */
export const OnnxDataType = { FLOAT: 1, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
/** AttributeProto.AttributeType values. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

let root: protobuf.Root | null = null;
function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root;
}

export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };
export type Dim = number | string; // number: fixed size, string: symbolic name

interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

/** Builds one graph node by node; `build()` returns the ModelProto bytes. */
export class OnnxGraphBuilder {
  private nodes: object[] = [];
  private initializers: object[] = [];
  private inputs: ValueInfo[] = [];
  private outputs: ValueInfo[] = [];
  private names = new Set<string>();
  private counter = 0;

  constructor(
    private readonly graphName: string,
    private readonly opset = 17,
  ) {}

  input(name: string, elemType: number, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, shape));
    return name;
  }

  output(name: string, elemType: number, shape: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  /** A float32 initializer (stored as little-endian raw_data). */
  floatTensor(name: string, dims: number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`onnx initializer ${name}: ${data.length} values for shape [${dims}]`);
    const raw = new Uint8Array(data.length * 4);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
    return this.initializer(name, OnnxDataType.FLOAT, dims, raw);
  }

  /** An int64 initializer, e.g. a Reshape target. */
  int64Tensor(name: string, values: number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < values.length; i++) dv.setBigInt64(i * 8, BigInt(values[i]), true);
    return this.initializer(name, OnnxDataType.INT64, [values.length], raw);
  }

  private initializer(name: string, dataType: number, dims: number[], raw: Uint8Array): string {
    this.claim(name);
    this.initializers.push({ name, data_type: dataType, dims, raw_data: raw });
    return name;
  }

  /** Adds a node; returns its output name(s). Output names default to `<op>_<n>`. */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    const out = outputName ?? `${opType.toLowerCase()}_${this.counter}`;
    this.claim(out);
    this.nodes.push({
      name: `${opType}_${this.counter++}`,
      op_type: opType,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  build(producer = 'povid-webgpu fixture'): Uint8Array {
    const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
    const msg = {
      ir_version: 8,
      producer_name: producer,
      producer_version: '1',
      opset_import: [{ domain: '', version: this.opset }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const err = ModelProto.verify(msg);
    if (err) throw new Error(`onnx model: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(msg)).finish();
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`onnx graph ${this.graphName}: duplicate value name ${name}`);
    this.names.add(name);
  }
}

function valueInfo(name: string, elemType: number, shape: Dim[]): ValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: use { float: x } for float values`);
    return { name, type: AttrType.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ('float' in v) return { name, type: AttrType.FLOAT, f: v.float };
  return { name, type: AttrType.FLOATS, floats: v.floats };
}

/** Decodes a ModelProto (tests use it to inspect the written graph). */
export function decodeOnnxModel(bytes: Uint8Array): {
  opset_import: { domain: string; version: number }[];
  graph: {
    node: { op_type: string; input: string[]; output: string[] }[];
    initializer: { name: string; dims: number[]; data_type: number; raw_data: Uint8Array }[];
    input: ValueInfo[];
    output: ValueInfo[];
  };
} {
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  const m = ModelProto.decode(bytes);
  return ModelProto.toObject(m, { longs: Number, defaults: true, arrays: true, oneofs: false }) as ReturnType<typeof decodeOnnxModel>;
}

type MutableValueInfo = { name: string; type: { tensor_type: { elem_type: number } } };
type MutableNode = { input: string[]; output: string[]; name: string; op_type: string; attribute?: object[] };

/**
 * A float32 model with float16 inputs and outputs, as fp16 exports declare them: each named
 * float input gets a Cast to float32 in front of the graph, each named float output a Cast to
 * float16 behind it; the float32 graph in between is unchanged. Same bytes for the same model.
 */
export function withFloat16Io(model: Uint8Array, inputs: readonly string[], outputs: readonly string[]): Uint8Array {
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  const m = ModelProto.toObject(ModelProto.decode(model), { longs: Number, arrays: true }) as {
    graph: { node: MutableNode[]; input: MutableValueInfo[]; output: MutableValueInfo[] };
  };
  const g = m.graph;
  const head: MutableNode[] = [];
  const tail: MutableNode[] = [];
  const cast = (from: string, to: string, type: number): MutableNode => ({
    name: `Cast_${to}`,
    op_type: 'Cast',
    input: [from],
    output: [to],
    attribute: [attribute('to', type)],
  });
  for (const name of inputs) {
    const vi = g.input.find((v) => v.name === name);
    if (!vi || vi.type.tensor_type.elem_type !== OnnxDataType.FLOAT) throw new Error(`withFloat16Io: ${name} is not a float input`);
    vi.type.tensor_type.elem_type = OnnxDataType.FLOAT16;
    const inner = `${name}_float32`;
    for (const n of g.node) n.input = n.input.map((x) => (x === name ? inner : x));
    head.push(cast(name, inner, OnnxDataType.FLOAT));
  }
  for (const name of outputs) {
    const vi = g.output.find((v) => v.name === name);
    if (!vi || vi.type.tensor_type.elem_type !== OnnxDataType.FLOAT) throw new Error(`withFloat16Io: ${name} is not a float output`);
    vi.type.tensor_type.elem_type = OnnxDataType.FLOAT16;
    const inner = `${name}_float32`;
    for (const n of g.node) n.output = n.output.map((x) => (x === name ? inner : x));
    tail.push(cast(inner, name, OnnxDataType.FLOAT16));
  }
  g.node = [...head, ...g.node, ...tail];
  const err = ModelProto.verify(m);
  if (err) throw new Error(`onnx model: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(m)).finish();
}
