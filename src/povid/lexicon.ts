// Word lists for the local hallucination injector (inject/): the 80 COCO object categories
// with synonyms and plurals, which of them tend to appear together, and attribute / relation
// words with the values they can be swapped for, each with the context words that tell when a
// word has the sense the swap needs. Plus the few English word-form rules the injector needs to
// keep grammar (articles, plurals, agreement, case).

export type Supercategory =
  | 'person'
  | 'vehicle'
  | 'outdoor'
  | 'animal'
  | 'accessory'
  | 'sports'
  | 'kitchen'
  | 'food'
  | 'furniture'
  | 'electronic'
  | 'appliance'
  | 'indoor';

export interface ObjectCategory {
  /** COCO category name. */
  name: string;
  group: Supercategory;
  /** Singular surface forms (synonyms); the first is used when the object is inserted. */
  forms: string[];
  /** Uncountable ('some broccoli'): never replaced into a countable slot. */
  mass?: boolean;
  /** Only plural ('scissors', 'skis'): inserted as 'a pair of ...'. */
  pair?: boolean;
}

const C = (name: string, group: Supercategory, forms: string[], extra: Partial<ObjectCategory> = {}): ObjectCategory => ({
  name,
  group,
  forms,
  ...extra,
});

/** The 80 COCO categories. */
export const COCO_CATEGORIES: readonly ObjectCategory[] = [
  C('person', 'person', ['person', 'man', 'woman', 'boy', 'girl', 'child', 'kid', 'lady', 'guy', 'player', 'skier', 'surfer', 'skateboarder', 'snowboarder', 'rider', 'baby']),
  C('bicycle', 'vehicle', ['bicycle', 'bike']),
  C('car', 'vehicle', ['car', 'taxi', 'sedan']),
  C('motorcycle', 'vehicle', ['motorcycle', 'motorbike', 'scooter']),
  C('airplane', 'vehicle', ['airplane', 'plane', 'jet', 'aeroplane', 'airliner']),
  C('bus', 'vehicle', ['bus']),
  C('train', 'vehicle', ['train', 'locomotive']),
  C('truck', 'vehicle', ['truck', 'lorry']),
  C('boat', 'vehicle', ['boat', 'ship', 'sailboat', 'canoe', 'kayak']),
  C('traffic light', 'outdoor', ['traffic light', 'stoplight', 'traffic signal']),
  C('fire hydrant', 'outdoor', ['fire hydrant', 'hydrant']),
  C('stop sign', 'outdoor', ['stop sign']),
  C('parking meter', 'outdoor', ['parking meter']),
  C('bench', 'outdoor', ['bench']),
  C('bird', 'animal', ['bird', 'pigeon', 'seagull', 'duck', 'gull']),
  C('cat', 'animal', ['cat', 'kitten']),
  C('dog', 'animal', ['dog', 'puppy']),
  C('horse', 'animal', ['horse', 'pony']),
  C('sheep', 'animal', ['sheep', 'lamb']),
  C('cow', 'animal', ['cow', 'bull', 'calf']),
  C('elephant', 'animal', ['elephant']),
  C('bear', 'animal', ['bear']),
  C('zebra', 'animal', ['zebra']),
  C('giraffe', 'animal', ['giraffe']),
  C('backpack', 'accessory', ['backpack']),
  C('umbrella', 'accessory', ['umbrella', 'parasol']),
  C('handbag', 'accessory', ['handbag', 'purse']),
  C('tie', 'accessory', ['tie', 'necktie']),
  C('suitcase', 'accessory', ['suitcase', 'luggage']),
  C('frisbee', 'sports', ['frisbee']),
  C('skis', 'sports', ['ski'], { pair: true }),
  C('snowboard', 'sports', ['snowboard']),
  C('sports ball', 'sports', ['ball', 'soccer ball', 'tennis ball', 'beach ball']),
  C('kite', 'sports', ['kite']),
  C('baseball bat', 'sports', ['baseball bat']),
  C('baseball glove', 'sports', ['baseball glove', 'mitt']),
  C('skateboard', 'sports', ['skateboard']),
  C('surfboard', 'sports', ['surfboard']),
  C('tennis racket', 'sports', ['tennis racket', 'racket', 'racquet']),
  C('bottle', 'kitchen', ['bottle']),
  C('wine glass', 'kitchen', ['wine glass']),
  C('cup', 'kitchen', ['cup', 'mug']),
  C('fork', 'kitchen', ['fork']),
  C('knife', 'kitchen', ['knife']),
  C('spoon', 'kitchen', ['spoon']),
  C('bowl', 'kitchen', ['bowl']),
  C('banana', 'food', ['banana']),
  C('apple', 'food', ['apple']),
  C('sandwich', 'food', ['sandwich']),
  C('orange', 'food', ['orange']),
  C('broccoli', 'food', ['broccoli'], { mass: true }),
  C('carrot', 'food', ['carrot']),
  C('hot dog', 'food', ['hot dog']),
  C('pizza', 'food', ['pizza']),
  C('donut', 'food', ['donut', 'doughnut']),
  C('cake', 'food', ['cake', 'cupcake']),
  C('chair', 'furniture', ['chair', 'stool']),
  C('couch', 'furniture', ['couch', 'sofa']),
  C('potted plant', 'furniture', ['potted plant', 'plant', 'houseplant']),
  C('bed', 'furniture', ['bed']),
  C('dining table', 'furniture', ['table', 'dining table']),
  C('toilet', 'furniture', ['toilet']),
  C('tv', 'electronic', ['television', 'tv']),
  C('laptop', 'electronic', ['laptop', 'computer']),
  C('mouse', 'electronic', ['mouse']),
  C('remote', 'electronic', ['remote', 'remote control']),
  C('keyboard', 'electronic', ['keyboard']),
  C('cell phone', 'electronic', ['cell phone', 'phone', 'cellphone', 'smartphone']),
  C('microwave', 'appliance', ['microwave']),
  C('oven', 'appliance', ['oven', 'stove']),
  C('toaster', 'appliance', ['toaster']),
  C('sink', 'appliance', ['sink']),
  C('refrigerator', 'appliance', ['refrigerator', 'fridge']),
  C('book', 'indoor', ['book']),
  C('clock', 'indoor', ['clock']),
  C('vase', 'indoor', ['vase']),
  C('scissors', 'indoor', ['scissors'], { pair: true }),
  C('teddy bear', 'indoor', ['teddy bear', 'stuffed animal']),
  C('hair drier', 'indoor', ['hair dryer', 'hair drier', 'blow dryer']),
  C('toothbrush', 'indoor', ['toothbrush']),
];

/**
 * Categories that often appear in the same picture as each category (hand-made from how COCO
 * scenes look: street scenes, dining tables, kitchens, living rooms, sports fields...).
 * A hallucinated object is drawn from the row of an object that is really mentioned.
 */
export const CO_OCCURRENCE: Readonly<Record<string, readonly string[]>> = {
  person: ['bicycle', 'skateboard', 'umbrella', 'dog', 'cell phone', 'handbag', 'backpack', 'kite', 'frisbee'],
  bicycle: ['person', 'car', 'bench', 'backpack', 'traffic light', 'dog'],
  car: ['truck', 'traffic light', 'person', 'bus', 'stop sign', 'parking meter'],
  motorcycle: ['person', 'car', 'truck', 'bicycle', 'traffic light'],
  airplane: ['truck', 'person', 'car', 'bird'],
  bus: ['car', 'person', 'truck', 'traffic light', 'bicycle'],
  train: ['person', 'car', 'truck', 'traffic light', 'bench'],
  truck: ['car', 'person', 'bus', 'traffic light', 'motorcycle'],
  boat: ['person', 'bird', 'umbrella', 'surfboard', 'car'],
  'traffic light': ['car', 'truck', 'bus', 'stop sign', 'person'],
  'fire hydrant': ['car', 'person', 'stop sign', 'bicycle', 'dog'],
  'stop sign': ['car', 'traffic light', 'truck', 'person', 'fire hydrant'],
  'parking meter': ['car', 'person', 'truck', 'bicycle', 'fire hydrant'],
  bench: ['person', 'bird', 'dog', 'bicycle', 'umbrella', 'potted plant'],
  bird: ['boat', 'bench', 'person', 'umbrella', 'kite'],
  cat: ['couch', 'bed', 'laptop', 'dog', 'remote', 'chair'],
  dog: ['frisbee', 'person', 'couch', 'cat', 'car', 'sports ball'],
  horse: ['person', 'cow', 'dog', 'truck', 'sheep'],
  sheep: ['cow', 'dog', 'person', 'horse', 'bird'],
  cow: ['sheep', 'horse', 'person', 'dog', 'truck'],
  elephant: ['person', 'bird', 'giraffe', 'zebra', 'truck'],
  bear: ['bird', 'person', 'dog', 'elephant'],
  zebra: ['giraffe', 'elephant', 'bird', 'horse'],
  giraffe: ['zebra', 'elephant', 'bird', 'person'],
  backpack: ['person', 'suitcase', 'handbag', 'bicycle', 'umbrella'],
  umbrella: ['person', 'handbag', 'chair', 'bench', 'car'],
  handbag: ['person', 'umbrella', 'backpack', 'cell phone', 'suitcase'],
  tie: ['person', 'cell phone', 'chair', 'clock'],
  suitcase: ['person', 'backpack', 'handbag', 'car', 'bed'],
  frisbee: ['dog', 'person', 'sports ball', 'kite'],
  skis: ['person', 'snowboard', 'backpack'],
  snowboard: ['person', 'skis', 'backpack'],
  'sports ball': ['person', 'baseball bat', 'baseball glove', 'tennis racket', 'dog'],
  kite: ['person', 'umbrella', 'boat', 'bird'],
  'baseball bat': ['baseball glove', 'sports ball', 'person', 'bench'],
  'baseball glove': ['baseball bat', 'sports ball', 'person', 'bench'],
  skateboard: ['person', 'bicycle', 'dog', 'car'],
  surfboard: ['person', 'boat', 'umbrella', 'kite'],
  'tennis racket': ['sports ball', 'person', 'bench', 'chair'],
  bottle: ['cup', 'wine glass', 'bowl', 'dining table', 'person', 'refrigerator'],
  'wine glass': ['bottle', 'dining table', 'fork', 'knife', 'cup', 'pizza'],
  cup: ['dining table', 'bowl', 'bottle', 'spoon', 'chair', 'donut'],
  fork: ['knife', 'dining table', 'spoon', 'cake', 'pizza', 'wine glass'],
  knife: ['fork', 'dining table', 'cake', 'sandwich', 'pizza', 'spoon'],
  spoon: ['bowl', 'fork', 'cup', 'knife', 'dining table'],
  bowl: ['spoon', 'cup', 'dining table', 'broccoli', 'banana', 'orange'],
  banana: ['apple', 'orange', 'bowl', 'dining table', 'donut'],
  apple: ['banana', 'orange', 'bowl', 'knife'],
  sandwich: ['knife', 'cup', 'dining table', 'fork', 'bowl'],
  orange: ['banana', 'apple', 'bowl', 'knife'],
  broccoli: ['carrot', 'bowl', 'fork', 'dining table'],
  carrot: ['broccoli', 'bowl', 'knife', 'fork'],
  'hot dog': ['sandwich', 'cup', 'person', 'bottle', 'pizza'],
  pizza: ['dining table', 'knife', 'fork', 'cup', 'wine glass', 'bottle'],
  donut: ['cup', 'dining table', 'cake', 'knife'],
  cake: ['knife', 'fork', 'dining table', 'cup', 'person'],
  chair: ['dining table', 'couch', 'potted plant', 'cup', 'tv', 'person'],
  couch: ['chair', 'tv', 'remote', 'potted plant', 'book', 'cat'],
  'potted plant': ['vase', 'chair', 'couch', 'book', 'clock', 'bench'],
  bed: ['book', 'clock', 'remote', 'teddy bear', 'cat', 'chair'],
  'dining table': ['chair', 'cup', 'fork', 'knife', 'bowl', 'wine glass', 'pizza'],
  toilet: ['sink', 'toothbrush', 'bottle', 'hair drier'],
  tv: ['remote', 'couch', 'chair', 'laptop', 'potted plant'],
  laptop: ['mouse', 'keyboard', 'cell phone', 'cup', 'chair', 'book'],
  mouse: ['keyboard', 'laptop', 'tv', 'cell phone', 'cup'],
  remote: ['tv', 'couch', 'cell phone', 'cup'],
  keyboard: ['mouse', 'laptop', 'tv', 'cup', 'cell phone'],
  'cell phone': ['laptop', 'person', 'cup', 'remote', 'handbag'],
  microwave: ['oven', 'refrigerator', 'sink', 'toaster', 'bottle'],
  oven: ['microwave', 'sink', 'refrigerator', 'bowl', 'bottle'],
  toaster: ['microwave', 'oven', 'sink', 'refrigerator'],
  sink: ['toilet', 'oven', 'refrigerator', 'bottle', 'cup', 'toothbrush'],
  refrigerator: ['oven', 'microwave', 'sink', 'bottle', 'bowl'],
  book: ['chair', 'couch', 'clock', 'vase', 'laptop'],
  clock: ['book', 'vase', 'potted plant', 'chair'],
  vase: ['potted plant', 'book', 'clock', 'dining table'],
  scissors: ['book', 'cup', 'keyboard'],
  'teddy bear': ['bed', 'person', 'chair', 'couch', 'book'],
  'hair drier': ['toilet', 'sink', 'toothbrush', 'scissors'],
  toothbrush: ['sink', 'toilet', 'cup', 'hair drier'],
};

/**
 * Plausible stand-ins for a category when it is replaced (a cup becomes a bowl, not a fork);
 * categories without a row draw from their supercategory.
 */
export const SIMILAR_OBJECTS: Readonly<Record<string, readonly string[]>> = {
  bicycle: ['motorcycle'],
  car: ['truck', 'bus', 'motorcycle'],
  motorcycle: ['bicycle', 'car'],
  airplane: ['bus', 'truck'],
  bus: ['truck', 'car', 'train'],
  train: ['bus', 'truck'],
  truck: ['bus', 'car'],
  boat: ['surfboard', 'bird'],
  'traffic light': ['stop sign'],
  'fire hydrant': ['parking meter'],
  'stop sign': ['traffic light', 'fire hydrant'],
  'parking meter': ['fire hydrant', 'traffic light'],
  bench: ['chair'],
  bird: ['cat'],
  cat: ['dog'],
  dog: ['cat', 'sheep'],
  horse: ['cow', 'zebra'],
  sheep: ['cow', 'dog'],
  cow: ['horse', 'sheep'],
  elephant: ['giraffe', 'bear'],
  bear: ['elephant', 'dog'],
  zebra: ['horse', 'giraffe'],
  giraffe: ['zebra', 'elephant'],
  backpack: ['handbag', 'suitcase'],
  umbrella: ['handbag', 'kite'],
  handbag: ['backpack', 'suitcase'],
  tie: ['backpack', 'handbag'],
  suitcase: ['backpack', 'handbag'],
  frisbee: ['sports ball', 'kite'],
  snowboard: ['skateboard', 'surfboard'],
  'sports ball': ['frisbee'],
  kite: ['frisbee', 'umbrella'],
  'baseball bat': ['tennis racket'],
  'baseball glove': ['tennis racket'],
  skateboard: ['snowboard', 'surfboard', 'bicycle'],
  surfboard: ['skateboard', 'snowboard', 'boat'],
  'tennis racket': ['baseball bat'],
  bottle: ['cup', 'wine glass', 'bowl'],
  'wine glass': ['cup', 'bottle'],
  cup: ['bowl', 'bottle', 'wine glass'],
  fork: ['knife', 'spoon'],
  knife: ['fork', 'spoon'],
  spoon: ['fork', 'knife'],
  bowl: ['cup', 'vase'],
  chair: ['couch', 'bench'],
  couch: ['chair', 'bed'],
  'potted plant': ['vase'],
  bed: ['couch'],
  'dining table': ['bench', 'bed'],
  toilet: ['sink'],
  tv: ['laptop'],
  laptop: ['tv', 'cell phone'],
  mouse: ['remote', 'cell phone'],
  remote: ['cell phone', 'mouse'],
  keyboard: ['laptop', 'remote'],
  'cell phone': ['remote', 'book'],
  microwave: ['toaster', 'oven'],
  oven: ['microwave', 'refrigerator'],
  toaster: ['microwave'],
  sink: ['toilet', 'refrigerator'],
  refrigerator: ['oven', 'microwave'],
  book: ['laptop', 'cell phone'],
  clock: ['cell phone', 'tv'],
  vase: ['bottle', 'cup', 'potted plant'],
  'teddy bear': ['cat', 'dog'],
  'hair drier': ['toothbrush'],
  toothbrush: ['hair drier'],
};

/** Scene nouns outside COCO that anchor a plausible added object ('a fork beside the plate'). */
export const CONTEXT_NOUNS: Readonly<Record<string, readonly string[]>> = {
  plate: ['fork', 'knife', 'spoon', 'cup', 'wine glass'],
  tray: ['cup', 'fork', 'bowl', 'sandwich'],
  kitchen: ['oven', 'microwave', 'refrigerator', 'sink', 'bottle'],
  counter: ['microwave', 'bottle', 'bowl', 'cup', 'toaster'],
  street: ['car', 'bus', 'truck', 'traffic light', 'bicycle', 'fire hydrant'],
  road: ['car', 'truck', 'bus', 'traffic light', 'motorcycle'],
  sidewalk: ['bicycle', 'fire hydrant', 'parking meter', 'bench', 'dog'],
  beach: ['umbrella', 'surfboard', 'kite', 'boat'],
  ocean: ['boat', 'surfboard', 'bird'],
  water: ['boat', 'bird', 'surfboard'],
  field: ['cow', 'sheep', 'horse', 'dog', 'frisbee', 'sports ball'],
  grass: ['dog', 'frisbee', 'sports ball', 'bench', 'bird'],
  snow: ['skis', 'snowboard', 'dog'],
  slope: ['skis', 'snowboard', 'backpack'],
  mountain: ['skis', 'snowboard', 'backpack'],
  sky: ['kite', 'airplane', 'bird'],
  desk: ['laptop', 'keyboard', 'mouse', 'cup', 'book'],
  room: ['couch', 'tv', 'chair', 'clock', 'potted plant'],
  bathroom: ['toilet', 'sink', 'toothbrush'],
  bedroom: ['bed', 'clock', 'book', 'teddy bear'],
  park: ['bench', 'dog', 'frisbee', 'bicycle'],
  tree: ['bird', 'bench', 'kite'],
  building: ['car', 'bus', 'clock', 'traffic light'],
  court: ['tennis racket', 'sports ball'],
  runway: ['airplane', 'truck', 'suitcase'],
  airport: ['airplane', 'suitcase', 'truck'],
  station: ['train', 'bench', 'clock'],
  platform: ['train', 'bench', 'suitcase'],
  window: ['potted plant', 'cat', 'clock'],
  shelf: ['book', 'vase', 'clock'],
  fence: ['horse', 'cow', 'sheep', 'bird'],
  pasture: ['cow', 'sheep', 'horse'],
  harbor: ['boat', 'bird'],
};

/** Objects for the last-resort clause when nothing in the text anchors a better one. */
export const GENERIC_OBJECTS: readonly string[] = ['person', 'dog', 'car', 'chair', 'bottle', 'potted plant', 'clock', 'bird', 'umbrella', 'bench', 'cup', 'bicycle'];

/** Gender/age swaps for person words (replacing 'man' by 'bus' would not be plausible). */
export const PERSON_SWAPS: Readonly<Record<string, readonly string[]>> = {
  person: ['man', 'woman', 'child'],
  man: ['woman', 'boy'],
  woman: ['man', 'girl'],
  boy: ['girl', 'man'],
  girl: ['boy', 'woman'],
  child: ['man', 'woman'],
  kid: ['man', 'woman'],
  lady: ['man', 'boy'],
  guy: ['woman', 'girl'],
  player: ['referee', 'coach'],
  skier: ['snowboarder'],
  snowboarder: ['skier'],
  surfer: ['swimmer', 'kayaker'],
  skateboarder: ['cyclist', 'runner'],
  rider: ['pedestrian', 'runner'],
  baby: ['toddler', 'puppy'],
};

export const COLORS: readonly string[] = [
  'red', 'blue', 'green', 'yellow', 'orange', 'purple', 'pink', 'brown', 'black', 'white', 'gray', 'grey',
  'silver', 'gold', 'beige', 'tan', 'maroon', 'navy', 'teal', 'turquoise', 'violet',
];
/** Colours drawn as replacements. */
export const COLOR_CHOICES: readonly string[] = ['red', 'blue', 'green', 'yellow', 'orange', 'purple', 'pink', 'brown', 'black', 'white', 'gray'];
/** Colours an animal can plausibly have. */
export const NATURAL_COLORS: readonly string[] = ['black', 'white', 'brown', 'gray'];

export const SIZE_SWAPS: Readonly<Record<string, readonly string[]>> = {
  big: ['small', 'tiny'],
  small: ['large', 'big', 'huge'],
  large: ['small', 'tiny'],
  little: ['big', 'large'],
  tiny: ['huge', 'large'],
  huge: ['tiny', 'small'],
  giant: ['tiny', 'small'],
  enormous: ['tiny'],
  massive: ['tiny'],
  tall: ['short'],
  short: ['tall'],
  long: ['short'],
  wide: ['narrow'],
  narrow: ['wide'],
  thick: ['thin'],
  thin: ['thick'],
  bigger: ['smaller'],
  smaller: ['bigger', 'larger'],
  larger: ['smaller'],
  taller: ['shorter'],
  shorter: ['taller', 'longer'],
  longer: ['shorter'],
  biggest: ['smallest'],
  smallest: ['largest', 'biggest'],
  largest: ['smallest'],
  tallest: ['shortest'],
};

/** Nouns after which 'short' means the opposite of 'long', not of 'tall'. */
export const LONG_NOUNS: ReadonlySet<string> = new Set(['hair', 'sleeves', 'sleeve', 'skirt', 'dress', 'pants', 'line', 'distance', 'trip', 'tail', 'beard', 'walk', 'neck', 'legs', 'table', 'bench', 'train', 'shadow', 'shadows', 'grass', 'stick', 'board']);
/** Units before 'tall', 'long' or 'wide' ('2 meters tall'), where the size word is a measure. */
export const MEASURE_UNITS: ReadonlySet<string> = new Set(['meter', 'meters', 'metres', 'feet', 'foot', 'inches', 'inch', 'cm', 'm', 'ft', 'stories', 'storeys', 'floors', 'miles', 'kilometers', 'yards']);

/** Materials used as adjectives ('a wooden table'). */
export const MATERIAL_ADJECTIVES: readonly string[] = [
  'wooden', 'wood', 'metal', 'metallic', 'plastic', 'glass', 'stone', 'brick', 'concrete', 'leather', 'ceramic', 'porcelain',
  'paper', 'cardboard', 'steel', 'iron', 'wicker', 'marble', 'granite', 'wool', 'woolen', 'cotton', 'silk', 'denim', 'rubber',
  'bamboo', 'straw', 'aluminum', 'copper', 'brass', 'velvet', 'oak', 'wire',
];
/** Material family of a material word (wooden and oak are both wood). */
export function materialFamily(m: string): string {
  if (['wood', 'wooden', 'oak', 'bamboo', 'wicker', 'straw'].includes(m)) return 'wood';
  if (['metal', 'metallic', 'steel', 'iron', 'aluminum', 'copper', 'brass', 'wire', 'tin'].includes(m)) return 'metal';
  if (['stone', 'brick', 'bricks', 'concrete', 'marble', 'granite'].includes(m)) return 'stone';
  if (['wool', 'woolen', 'cotton', 'silk', 'denim', 'velvet', 'fabric', 'leather'].includes(m)) return 'fabric';
  if (['ceramic', 'porcelain', 'clay'].includes(m)) return 'ceramic';
  if (['paper', 'cardboard'].includes(m)) return 'paper';
  if (['plastic', 'rubber'].includes(m)) return 'plastic';
  return m;
}
/** Plausible wrong materials by family, as adjectives ('a wooden table' -> 'a metal table'). */
export const MATERIAL_ADJECTIVE_CHOICES: Readonly<Record<string, readonly string[]>> = {
  wood: ['metal', 'plastic', 'stone', 'glass'],
  metal: ['wooden', 'plastic', 'glass'],
  stone: ['wooden', 'metal', 'glass', 'concrete'],
  fabric: ['leather', 'cotton', 'wool', 'plastic', 'velvet'],
  ceramic: ['plastic', 'glass', 'metal', 'wooden'],
  paper: ['plastic', 'metal', 'ceramic'],
  plastic: ['metal', 'wooden', 'glass'],
  glass: ['plastic', 'metal', 'wooden', 'ceramic'],
};
/** Materials as nouns, after 'made of' / 'made from' / 'out of'. */
export const MATERIAL_NOUNS: readonly string[] = [
  'wood', 'metal', 'plastic', 'glass', 'stone', 'brick', 'bricks', 'concrete', 'leather', 'ceramic', 'porcelain', 'paper', 'cardboard',
  'steel', 'iron', 'wicker', 'marble', 'wool', 'cotton', 'silk', 'rubber', 'bamboo', 'straw', 'aluminum', 'copper', 'brass', 'fabric', 'clay',
];
export const MATERIAL_NOUN_CHOICES: Readonly<Record<string, readonly string[]>> = {
  wood: ['metal', 'plastic', 'stone', 'glass'],
  metal: ['wood', 'plastic', 'glass'],
  stone: ['wood', 'metal', 'glass', 'concrete'],
  fabric: ['leather', 'cotton', 'wool', 'plastic'],
  ceramic: ['plastic', 'glass', 'metal', 'wood'],
  paper: ['plastic', 'metal', 'ceramic'],
  plastic: ['metal', 'wood', 'glass'],
  glass: ['plastic', 'metal', 'wood', 'ceramic'],
};

/** State and quality attributes with plausible wrong values. */
export const ATTRIBUTE_SWAPS: Readonly<Record<string, readonly string[]>> = {
  young: ['old', 'elderly'],
  old: ['young', 'new'],
  elderly: ['young'],
  new: ['old', 'worn'],
  clean: ['dirty'],
  dirty: ['clean'],
  wet: ['dry'],
  dry: ['wet'],
  empty: ['full', 'crowded'],
  full: ['empty'],
  happy: ['sad', 'angry'],
  sad: ['happy'],
  smiling: ['frowning', 'crying'],
  frowning: ['smiling'],
  standing: ['sitting', 'lying'],
  sitting: ['standing', 'lying'],
  lying: ['standing', 'sitting'],
  running: ['walking', 'standing'],
  walking: ['running', 'standing'],
  asleep: ['awake'],
  awake: ['asleep'],
  sleeping: ['awake', 'eating'],
  crowded: ['empty', 'deserted'],
  busy: ['empty', 'quiet'],
  quiet: ['busy', 'crowded'],
  bright: ['dim', 'dark'],
  dark: ['bright'],
  modern: ['antique', 'old-fashioned'],
  fresh: ['rotten', 'stale'],
  ripe: ['unripe', 'rotten'],
  hot: ['cold'],
  cold: ['hot', 'warm'],
  warm: ['cold'],
  parked: ['moving'],
  moving: ['parked', 'stopped'],
  calm: ['rough', 'stormy'],
  smooth: ['rough'],
  rough: ['smooth', 'calm'],
  shiny: ['dull'],
  striped: ['spotted', 'plain'],
  spotted: ['striped'],
  curly: ['straight'],
  broken: ['intact'],
  flying: ['landing', 'hovering'],
  eating: ['holding'],
  drinking: ['eating'],
  laughing: ['crying'],
};

/** Units before 'old' ('three years old'), where it gives an age rather than a quality. */
export const AGE_UNITS: ReadonlySet<string> = new Set(['year', 'years', 'month', 'months', 'week', 'weeks', 'day', 'days']);

/** Adjectives a noun phrase may start with, skipped to find its head noun. */
export const ADJECTIVES: ReadonlySet<string> = new Set<string>([
  ...COLORS,
  ...Object.keys(SIZE_SWAPS),
  ...Object.keys(ATTRIBUTE_SWAPS),
  ...MATERIAL_ADJECTIVES.filter((m) => m !== 'wood'),
  'single', 'other', 'more', 'extra', 'few', 'several', 'different', 'same', 'light', 'dark', 'pretty', 'beautiful', 'adult', 'baby',
]);

/** Multi-word spatial relations, matched before single words. */
export const RELATION_PHRASES: Readonly<Record<string, readonly string[]>> = {
  'in front of': ['behind'],
  'on top of': ['underneath', 'below'],
  'next to': ['far from', 'behind'],
  'close to': ['far from'],
  'far from': ['next to', 'close to'],
  'far away from': ['right next to'],
};

/** Single-word spatial and logical relations (scene time, weather, state). */
export const RELATION_WORDS: Readonly<Record<string, readonly string[]>> = {
  left: ['right'],
  right: ['left'],
  above: ['below'],
  below: ['above'],
  beneath: ['above'],
  underneath: ['on top of'],
  under: ['on', 'above'],
  on: ['under'],
  behind: ['in front of'],
  beside: ['behind', 'far from'],
  near: ['far from'],
  inside: ['outside'],
  outside: ['inside'],
  indoors: ['outdoors'],
  outdoors: ['indoors'],
  indoor: ['outdoor'],
  outdoor: ['indoor'],
  upstairs: ['downstairs'],
  downstairs: ['upstairs'],
  top: ['bottom'],
  bottom: ['top'],
  front: ['back'],
  back: ['front'],
  foreground: ['background'],
  background: ['foreground'],
  horizontal: ['vertical'],
  vertical: ['horizontal'],
  upward: ['downward'],
  downward: ['upward'],
  // logical: time of day, weather, season, open/closed
  day: ['night'],
  night: ['day'],
  daytime: ['nighttime'],
  nighttime: ['daytime'],
  morning: ['evening', 'night'],
  evening: ['morning'],
  afternoon: ['night'],
  sunrise: ['sunset'],
  sunset: ['sunrise'],
  sun: ['moon'],
  moon: ['sun'],
  sunlight: ['moonlight'],
  moonlight: ['sunlight'],
  sunny: ['rainy', 'cloudy', 'snowy'],
  rainy: ['sunny'],
  snowy: ['sunny'],
  cloudy: ['sunny', 'clear'],
  overcast: ['sunny'],
  summer: ['winter'],
  winter: ['summer'],
  open: ['closed'],
  opened: ['closed'],
  closed: ['open'],
  lit: ['unlit', 'dark'],
};

/**
 * Relative positions that may follow a noun ('a dog below the table'): an object inserted before
 * one would stack two ('a dog near a bird below the table'). A plain locative ('on the table',
 * 'in the park') places both objects and stays allowed, unless it starts one ('in front of').
 */
export const RELATIVE_POSITIONS: ReadonlySet<string> = new Set(['near', 'by', 'under', 'beside', 'behind', 'above', 'below', 'beneath', 'underneath', 'inside', 'outside', 'along', 'over', 'next', 'atop', 'across', 'against', 'between', 'around', 'opposite']);
/** Two-word starts of position phrases after a noun ('in front of', 'on top of', 'to the left'). */
export const POSITION_PHRASE_STARTS: ReadonlySet<string> = new Set(['in front', 'on top', 'to the', 'at the']);
/** Words that make 'to the' / 'at the' a position ('to the left', 'at the back'). */
export const POSITION_PHRASE_HEADS: ReadonlySet<string> = new Set(['left', 'right', 'side', 'back', 'front', 'top', 'bottom']);

// Relation words need context to have their relation sense ('left' the room, 'on' time): the
// words around them that show it.

/** 'left' / 'right' as a side when followed by one of these ('the left side'). */
export const LR_NEXT: ReadonlySet<string> = new Set(['side', 'sides', 'hand', 'hands', 'corner', 'of', 'half', 'edge', 'arm', 'leg', 'eye', 'foot', 'shoulder', 'wing', 'lane', 'ear', 'paw', 'wrist', 'part', 'panel']);
/** ... or preceded by one of these ('on the upper left'). */
export const LR_PREV: ReadonlySet<string> = new Set(['the', 'upper', 'lower', 'top', 'bottom', 'far', 'its', 'his', 'her', 'their', 'my', 'your', 'our']);
/** 'top' / 'bottom' as a position when followed by one of these ('the top shelf'). */
export const TB_NEXT: ReadonlySet<string> = new Set(['left', 'right', 'of', 'half', 'shelf', 'corner', 'part', 'row', 'floor', 'drawer', 'edge', 'portion', 'layer', 'section', 'rack', 'bunk', 'step']);
/** 'front' / 'back' as a position when followed by one of these ('the back seat'). */
export const FB_NEXT: ReadonlySet<string> = new Set(['door', 'seat', 'seats', 'wheel', 'wheels', 'yard', 'porch', 'row', 'window', 'tire', 'tires', 'legs', 'leg', 'paws', 'bumper', 'end', 'side', 'cover', 'page', 'of', 'entrance', 'garden', 'lawn']);
/** Verbs of phrasal 'on' ('turned on', 'depends on'), never a place. */
export const ON_PHRASAL: ReadonlySet<string> = new Set([
  'turned', 'turn', 'turns', 'put', 'puts', 'putting', 'based', 'depend', 'depends', 'rely', 'relies', 'focus', 'focused', 'focuses',
  'going', 'goes', 'go', 'went', 'carry', 'carries', 'carrying', 'keep', 'keeps', 'later', 'try', 'tries', 'trying', 'work', 'works',
  'working', 'comment', 'agree', 'count', 'take', 'takes', 'taking', 'get', 'gets', 'getting', 'hang', 'hold', 'holds', 'holding',
]);
/** 'day' / 'night' as the scene's time when preceded by one of these ('a sunny day'). */
export const DAY_PREV: ReadonlySet<string> = new Set(['the', 'a', 'this', 'sunny', 'clear', 'bright', 'rainy', 'cloudy', 'snowy', 'dark', 'summer', 'winter', 'beautiful', 'nice', 'warm', 'cold', 'quiet', 'busy']);

/** Heads of noun phrases that 'on' can sensibly become 'under'. */
export const SURFACES: ReadonlySet<string> = new Set([
  'table', 'desk', 'counter', 'shelf', 'bed', 'couch', 'sofa', 'chair', 'plate', 'bench', 'tray', 'stool', 'cabinet', 'box', 'rock',
  'branch', 'blanket', 'pillow', 'towel', 'board', 'car', 'truck', 'dresser', 'nightstand', 'mat', 'rug', 'carpet', 'tree', 'log', 'roof',
  'windowsill', 'ledge', 'bridge', 'boat', 'bus', 'train', 'platform', 'stand', 'cart', 'suitcase', 'book',
  'laptop', 'keyboard', 'stove', 'oven', 'microwave', 'refrigerator', 'fridge', 'sink', 'toilet', 'bike', 'bicycle', 'motorcycle',
]);

export const NUMBER_WORDS: Readonly<Record<string, number>> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90, hundred: 100,
};
const UNITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** English words for 0..99 ('twenty-one'); null above. */
export function numberToWords(n: number): string | null {
  if (!Number.isInteger(n) || n < 0 || n > 99) return n === 100 ? 'one hundred' : null;
  if (n < 20) return UNITS[n];
  const t = Math.floor(n / 10);
  const u = n % 10;
  return u === 0 ? TENS[t] : `${TENS[t]}-${UNITS[u]}`;
}

/** Yes/no words and their opposites. */
export const OPPOSITE_ANSWERS: Readonly<Record<string, string>> = {
  yes: 'no',
  no: 'yes',
  yeah: 'no',
  yep: 'nope',
  nope: 'yep',
  true: 'false',
  false: 'true',
  correct: 'incorrect',
  incorrect: 'correct',
};

/** Negated auxiliaries and their positive forms. */
export const NEGATIONS: Readonly<Record<string, string>> = {
  "isn't": 'is', "aren't": 'are', "wasn't": 'was', "weren't": 'were', "doesn't": 'does', "don't": 'do', "didn't": 'did',
  "can't": 'can', cannot: 'can', "couldn't": 'could', "won't": 'will', "wouldn't": 'would', "hasn't": 'has', "haven't": 'have',
};
/** Auxiliaries after which 'not' makes a statement negative. */
export const AUXILIARIES: ReadonlySet<string> = new Set(['is', 'are', 'was', 'were', 'can', 'could', 'does', 'do', 'did', 'will', 'would', 'should', 'has', 'have']);

/** Words that end a noun phrase (prepositions, verbs, conjunctions, pronouns, determiners). */
export const FUNCTION_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'the', 'this', 'that', 'these', 'those', 'its', 'his', 'her', 'their', 'my', 'your', 'our', 'some', 'any', 'each', 'every',
  'is', 'are', 'was', 'were', 'be', 'been', 'being', 'has', 'have', 'had', 'do', 'does', 'did', 'can', 'could', 'will', 'would',
  'should', 'may', 'might', 'must', 'not', 'no', 'and', 'or', 'but', 'nor', 'so', 'yet', 'if', 'then', 'than', 'as', 'while',
  'who', 'which', 'what', 'where', 'when', 'why', 'how', 'whose', 'it', 'he', 'she', 'they', 'we', 'you', 'i', 'them', 'him',
  'me', 'us', 'there', 'here', 'of', 'in', 'on', 'at', 'by', 'for', 'with', 'from', 'to', 'into', 'onto', 'over', 'under', 'near',
  'beside', 'behind', 'above', 'below', 'between', 'among', 'around', 'through', 'across', 'along', 'against', 'inside',
  'outside', 'upon', 'about', 'after', 'before', 'during', 'without', 'within', 'toward', 'towards', 'next', 'also', 'too',
  'very', 'just', 'only', 'all', 'both', 'either', 'neither', 'sits', 'sit', 'stands', 'stand', 'lies', 'lie', 'lay', 'rests',
  'appears', 'appear', 'seems', 'seem', 'looks', 'look', 'holds', 'hold', 'wears', 'wear', 'contains', 'contain', 'shows', 'show',
  'waits', 'wait', 'eats', 'eat', 'plays', 'play', 'runs', 'run', 'walks', 'walk', 'flies', 'fly', 'grazes', 'graze',
]);

/** Words that may follow a noun after which an object is inserted ('a plate [next to a fork] sits'). */
export const AFTER_NOUN_OK: ReadonlySet<string> = new Set([
  'is', 'are', 'was', 'were', 'has', 'have', 'had', 'sits', 'sit', 'sitting', 'stands', 'standing', 'lies', 'lying', 'rests', 'resting',
  'on', 'in', 'at', 'near', 'by', 'under', 'beside', 'behind', 'above', 'below', 'inside', 'outside', 'and', 'or', 'but', 'that',
  'which', 'who', 'while', 'with', 'can', 'could', 'will', 'appears', 'seems', 'looks', 'waits', 'waiting', 'parked', 'placed', 'along',
]);

/** Determiners that open a noun phrase ('on the table'). */
export const DETERMINERS: ReadonlySet<string> = new Set(['a', 'an', 'the', 'his', 'her', 'its', 'their', 'my', 'your', 'our', 'some', 'this', 'that', 'these', 'those']);

/** Verbs that agree in number with their subject ('one dog is' / 'three dogs are'), and their other form. */
export const COPULAS: Readonly<Record<string, string>> = { is: 'are', are: 'is', was: 'were', were: 'was', has: 'have', have: 'has' };
/** Each agreeing verb in its plural form. */
export const PLURAL_VERB: Readonly<Record<string, string>> = { is: 'are', are: 'are', was: 'were', were: 'were', has: 'have', have: 'have' };
/** Each agreeing verb in its singular form. */
export const SINGULAR_VERB: Readonly<Record<string, string>> = { is: 'is', are: 'is', was: 'was', were: 'was', has: 'has', have: 'has' };

/** Nouns whose plural is the singular ('one sheep', 'two sheep'). */
export const IRREGULAR_SAME: ReadonlySet<string> = new Set(['sheep', 'deer', 'fish', 'series', 'species', 'aircraft']);

/** Irregular plurals (singular -> plural). */
export const IRREGULAR_PLURALS: Readonly<Record<string, string>> = {
  person: 'people', man: 'men', woman: 'women', child: 'children', mouse: 'mice', foot: 'feet', tooth: 'teeth', goose: 'geese',
  knife: 'knives', wife: 'wives', leaf: 'leaves', loaf: 'loaves', shelf: 'shelves', half: 'halves', calf: 'calves', wolf: 'wolves',
  life: 'lives', sheep: 'sheep', deer: 'deer', fish: 'fish', scissors: 'scissors', luggage: 'luggage', broccoli: 'broccoli',
  potato: 'potatoes', tomato: 'tomatoes', ski: 'skis', bus: 'buses', die: 'dice', ox: 'oxen', cactus: 'cacti', series: 'series',
  species: 'species', aircraft: 'aircraft', glass: 'glasses', bench: 'benches', couch: 'couches', lady: 'ladies', puppy: 'puppies',
};
const IRREGULAR_SINGULARS: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(IRREGULAR_PLURALS).map(([s, p]) => [p, s]));

/** Plural of a lowercase noun (the last word of a phrase is inflected). */
export function pluralize(noun: string): string {
  const sp = noun.lastIndexOf(' ');
  if (sp >= 0) return noun.slice(0, sp + 1) + pluralize(noun.slice(sp + 1));
  const lower = noun.toLowerCase();
  const irr = IRREGULAR_PLURALS[lower];
  if (irr) return matchCase(noun, irr);
  if (/(s|x|z|ch|sh)$/.test(lower)) return noun + 'es';
  if (/[^aeiou]y$/.test(lower)) return noun.slice(0, -1) + 'ies';
  return noun + 's';
}

/** Singular of a lowercase plural noun, or null when it does not look plural. */
export function singularize(noun: string): string | null {
  const sp = noun.lastIndexOf(' ');
  if (sp >= 0) {
    const s = singularize(noun.slice(sp + 1));
    return s === null ? null : noun.slice(0, sp + 1) + s;
  }
  const lower = noun.toLowerCase();
  const irr = IRREGULAR_SINGULARS[lower];
  if (irr) return matchCase(noun, irr);
  if (IRREGULAR_PLURALS[lower]) return null; // already singular
  if (/[^aeiou]ies$/.test(lower)) return noun.slice(0, -3) + 'y';
  if (/(ss|x|z|ch|sh)es$/.test(lower)) return noun.slice(0, -2);
  if (/[^s]s$/.test(lower) && !/(us|is|ss)$/.test(lower)) return noun.slice(0, -1);
  return null;
}

/** 'a' or 'an' for the word that follows (by sound, for the common cases). */
export function indefiniteArticle(word: string): 'a' | 'an' {
  const w = word.replace(/^[^A-Za-z0-9]+/, '');
  if (w === '') return 'a';
  if (/^\d/.test(w)) {
    const digits = w.match(/^\d+/)![0];
    if (digits[0] === '8') return 'an';
    if ((digits.startsWith('11') || digits.startsWith('18')) && digits.length % 3 === 2) return 'an';
    return 'a';
  }
  // initialisms are read letter by letter: an SUV, a TV
  if (w.length > 1 && w === w.toUpperCase() && /^[A-Z]+$/.test(w)) return /^[AEFHILMNORSX]/.test(w) ? 'an' : 'a';
  const l = w.toLowerCase();
  if (/^(hour|honest|honor|honour|heir)/.test(l)) return 'an';
  if (/^(uni|use|usu|uti|ure|euro|eu|ewe|one|once|ouija)/.test(l)) return 'a';
  if (/^u[bcdfgjklmnpqrstvwxyz][aeiou]/.test(l) && !/^(umb|unc|und|unf|unh|unl|unm|unp|unr|uns|unt|unu|unw|ush|upp|upr|ups|upt|ugl)/.test(l)) return 'a';
  return /^[aeiou]/.test(l) ? 'an' : 'a';
}

/** `replacement` in the case pattern of `original` (ALL CAPS, Capitalised or as given). */
export function matchCase(original: string, replacement: string): string {
  if (replacement === '') return replacement;
  const letters = original.replace(/[^A-Za-z]/g, '');
  if (letters.length > 1 && letters === letters.toUpperCase()) return replacement.toUpperCase();
  if (/^[A-Z]/.test(original)) return replacement[0].toUpperCase() + replacement.slice(1);
  return replacement;
}
