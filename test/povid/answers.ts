// 200 varied answers for the injector tests: yes/no, counts, short answers, captions, long
// descriptions and numbers, some with the question they answer.

export interface Sample {
  answer: string;
  question?: string;
}

const YES_NO: Sample[] = [
  { answer: 'Yes.', question: 'Is there a dog in the image?' },
  { answer: 'No.', question: 'Is there a cat on the bed?' },
  { answer: 'yes', question: 'Is the light on?' },
  { answer: 'no', question: 'Is it raining?' },
  { answer: 'YES!', question: 'Is the man smiling?' },
  { answer: 'NO', question: 'Is there a fork?' },
  { answer: 'Yes, there is a dog on the couch.' },
  { answer: 'No, there is no cat in the picture.' },
  { answer: 'Yes, the man is wearing a hat.' },
  { answer: 'No, the woman is not holding an umbrella.' },
  { answer: "No, it isn't.", question: 'Is the door open?' },
  { answer: 'Yes, it is.', question: 'Is the sky blue?' },
  { answer: 'Yes, they are.', question: 'Are the giraffes eating?' },
  { answer: "No, they aren't playing.", question: 'Are the children playing?' },
  { answer: 'Yes, there are two horses in the field.' },
  { answer: 'No, there are no people on the beach.' },
  { answer: 'Yes. The train is at the station.' },
  { answer: 'No. The bus is parked on the street.' },
  { answer: 'Yes, the pizza has cheese on it.' },
  { answer: 'No, the table does not have a vase.' },
  { answer: 'Yes, the traffic light is green.' },
  { answer: "No, the boy doesn't have a kite." },
  { answer: 'Yes, he can.', question: 'Can the player reach the ball?' },
  { answer: 'No, she cannot see it.' },
  { answer: 'Yes, a clock hangs on the wall.' },
  { answer: 'No, nothing is on the plate.' },
  { answer: 'Yes, the elephant is drinking water.' },
  { answer: 'No, the refrigerator is closed.' },
  { answer: 'Yes, it was taken during the day.' },
  { answer: 'No, no one is sitting on the bench.' },
  { answer: 'True.', question: 'True or false: the cat is asleep.' },
  { answer: 'False', question: 'True or false: there are three cups.' },
  { answer: 'Yes, there is a laptop on the desk.' },
  { answer: 'No, the sink is empty.' },
  { answer: 'Yes, the sandwich is cut in half.' },
  { answer: 'No, the snowboarder is not wearing goggles.' },
  { answer: 'Yes, the zebras are standing together.' },
  { answer: 'Yes, the toilet lid is up.' },
  { answer: 'No, the man is not on a motorcycle.' },
  { answer: 'Yes, there is an apple next to the banana.' },
];

const COUNTS: Sample[] = [
  { answer: 'Two.', question: 'How many dogs are there?' },
  { answer: '3', question: 'How many cups are on the table?' },
  { answer: 'There are four people in the picture.', question: 'How many people are there?' },
  { answer: 'There is one cat on the windowsill.', question: 'How many cats are there?' },
  { answer: 'Five birds are sitting on the wire.' },
  { answer: '12', question: 'How many donuts are in the box?' },
  { answer: 'I can see 7 cars parked along the street.' },
  { answer: 'One.', question: 'How many trains are visible?' },
  { answer: 'There are twenty oranges in the crate.' },
  { answer: 'Three zebras and two giraffes are grazing.' },
  { answer: 'There is one dog.', question: 'How many dogs are there?' },
  { answer: 'One of the dogs is brown.' },
  { answer: 'Six.', question: 'How many slices of pizza are left?' },
  { answer: 'Eight sheep are standing in the pasture.' },
  { answer: 'There are 2 laptops on the desk.' },
  { answer: 'Nine', question: 'How many kites are in the sky?' },
  { answer: 'There are ten chairs around the table.' },
  { answer: 'Two men are playing frisbee in the park.' },
  { answer: 'There is 1 toothbrush in the cup.' },
  { answer: 'The boy is holding three balloons.' },
  { answer: 'Four', question: 'How many wheels does the car have?' },
  { answer: 'There are thirty-five people waiting for the bus.' },
  { answer: 'Eleven players are on the field.' },
  { answer: 'Only one person is visible.' },
  { answer: 'There were two buses at the stop.' },
  { answer: '0', question: 'How many umbrellas are there?' },
  { answer: 'Seven ducks are swimming in the pond.' },
  { answer: 'Two cups and one bowl are on the counter.' },
  { answer: 'There are 15 cows in the field.' },
  { answer: 'A man holds two tennis rackets.' },
];

const SHORT: Sample[] = [
  { answer: 'Red.', question: 'What color is the bus?' },
  { answer: 'A dog.', question: 'What animal is this?' },
  { answer: 'Left.', question: 'Which side is the cup on?' },
  { answer: 'Wood.', question: 'What is the table made of?' },
  { answer: 'Pizza.', question: 'What food is this?' },
  { answer: 'Tuesday' },
  { answer: 'On the table.', question: 'Where is the vase?' },
  { answer: 'Night.', question: 'What time of day is it?' },
  { answer: 'Blue and white.', question: 'What colour is the kite?' },
  { answer: 'Tennis.', question: 'What sport is being played?' },
  { answer: 'Sunny', question: 'What is the weather like?' },
  { answer: 'The kitchen.', question: 'Which room is this?' },
  { answer: 'A giraffe.', question: 'What is the tallest animal here?' },
  { answer: 'Orange', question: 'What color is the cat?' },
  { answer: 'An apple.', question: 'What fruit is on the plate?' },
  { answer: 'Under the bed.', question: 'Where is the cat?' },
  { answer: 'Large.', question: 'How big is the dog?' },
  { answer: 'Metal.', question: 'What material is the bench?' },
  { answer: 'Closed.', question: 'Is the door open or closed?' },
  { answer: 'Behind the fence.', question: 'Where are the horses?' },
  { answer: 'Surfing.', question: 'What is the man doing?' },
  { answer: 'Green', question: 'What color is the light?' },
  { answer: 'Stop sign', question: 'What sign is this?' },
  { answer: 'Inside.', question: 'Is the cat inside or outside?' },
  { answer: 'A laptop and a mouse.', question: 'What is on the desk?' },
];

const CAPTIONS: Sample[] = [
  { answer: 'A man riding a skateboard down a street.' },
  { answer: 'A red apple and an orange on a wooden table.' },
  { answer: 'The man on the left is holding an umbrella.' },
  { answer: 'It is daytime and the sky is sunny.' },
  { answer: 'Three people are standing in front of a bus.' },
  { answer: 'A plate with a sandwich and some chips.' },
  { answer: 'A cat sleeping under a table at night.' },
  { answer: 'A large elephant next to a small tree.' },
  { answer: 'A kitchen with a white refrigerator and a microwave.' },
  { answer: 'A young boy flying a kite on the beach.' },
  { answer: 'A black dog catching a frisbee in the park.' },
  { answer: 'Two giraffes standing near a tall tree.' },
  { answer: 'A bowl of broccoli and carrots on a counter.' },
  { answer: 'A woman sitting on a bench reading a book.' },
  { answer: 'A yellow taxi stopped at a traffic light.' },
  { answer: 'A surfer riding a big wave in the ocean.' },
  { answer: 'A slice of chocolate cake on a white plate.' },
  { answer: 'A train pulling into an empty station.' },
  { answer: 'A bathroom with a toilet and a sink.' },
  { answer: 'A small bird perched on a wooden fence.' },
  { answer: 'An old man walking a dog on a leash.' },
  { answer: 'Several cows grazing in a green field.' },
  { answer: 'A computer mouse beside a keyboard on a desk.' },
  { answer: 'A pizza with pepperoni and olives.' },
  { answer: 'A girl holding a teddy bear in her bedroom.' },
  { answer: 'A motorcycle parked outside a brick building.' },
  { answer: 'A vase of flowers on the left side of the shelf.' },
  { answer: 'A boat floating on calm water at sunset.' },
  { answer: 'A living room with a brown leather couch and a television.' },
  { answer: 'A skier going down a snowy slope.' },
  { answer: 'A hot dog with mustard on a paper plate.' },
  { answer: 'A tennis player swinging a racket on a clay court.' },
  { answer: 'A blue bus driving on a wet road.' },
  { answer: 'A horse standing in a pasture behind a fence.' },
  { answer: 'A laptop sitting on top of a wooden desk.' },
  { answer: 'A clock tower above a busy street.' },
  { answer: 'A bear walking through tall grass.' },
  { answer: 'A child eating a banana in a high chair.' },
  { answer: 'A cup of coffee next to a donut.' },
  { answer: 'An airplane flying in a clear blue sky.' },
  { answer: 'A fire hydrant on the corner of a sidewalk.' },
  { answer: 'A dining table set with forks, knives and wine glasses.' },
  { answer: 'A sheep lying in the grass.' },
  { answer: 'A toaster and a microwave on a kitchen counter.' },
  { answer: 'A man in a suit and tie talking on a cell phone.' },
  { answer: 'A stop sign at the end of a quiet road.' },
  { answer: 'A pair of scissors on a stack of paper.' },
  { answer: 'A person holding a baseball bat at home plate.' },
  { answer: 'A suitcase and a backpack on the floor.' },
  { answer: 'An open refrigerator full of food.' },
  { answer: 'The cat is sitting inside a cardboard box.' },
  { answer: 'A narrow street lined with old houses.' },
  { answer: 'A dirty sink with a toothbrush on the edge.' },
  { answer: 'A zebra drinking from a small pond.' },
  { answer: 'A glass vase filled with red roses.' },
  { answer: 'A bicycle leaning against a stone wall.' },
  { answer: 'A woman holding a purple umbrella in the rain.' },
  { answer: 'A small dog lying on a bed.' },
  { answer: 'Two men playing frisbee on a sunny afternoon.' },
  { answer: 'A parking meter in front of a parked car.' },
];

const LONG: Sample[] = [
  {
    answer:
      'The image shows a busy city street during the day. A red double-decker bus is driving on the left side of the road. Several people are walking on the sidewalk, and a man is carrying a black umbrella. In the background there is a tall building with a large clock.',
  },
  {
    answer:
      'In this photo, a young girl is sitting at a wooden table. In front of her is a plate with a slice of pizza and a glass of orange juice. A small dog is lying under the table. The room is bright and the window is open.',
  },
  {
    answer:
      'The picture shows a kitchen. There is a white refrigerator on the right and a silver microwave above the stove. Two bowls and a cup are on the counter. The floor is clean and the lights are on.',
  },
  {
    answer:
      'A herd of elephants is crossing a dry river bed. The largest elephant walks in front of the group, and a baby elephant follows behind it. The sky is cloudy and the grass is brown.',
  },
  {
    answer:
      'Two surfers are paddling out into the ocean on a sunny morning. One surfer has a long white surfboard and the other has a short yellow board. The waves are small and the water is calm.',
  },
  {
    answer:
      'This is a living room with a gray couch, a wooden coffee table and a large television mounted on the wall. A potted plant stands in the corner next to the window. Three books are stacked on the table.',
  },
  {
    answer:
      'The photo was taken at a train station. A green train is stopped at the platform, and a few passengers are waiting with their suitcases. A clock hangs above the entrance. It appears to be early evening.',
  },
  {
    answer:
      'A man in a blue shirt is standing on a tennis court. He is holding a racket in his right hand and looking at the ball. Behind him is a tall green fence. The court is empty except for him.',
  },
  {
    answer:
      'The image shows a bathroom. There is a white toilet next to a small sink. A toothbrush and a cup sit on the edge of the sink. The walls are covered with blue tiles.',
  },
  {
    answer:
      'A group of five people are sitting around a dining table. They are eating dinner and drinking wine. There are plates of pasta, a large salad bowl and two bottles on the table. Everyone is smiling.',
  },
  {
    answer:
      'In the picture, a brown horse is standing in a grassy field. A young woman is brushing its mane. A wooden fence runs along the back of the field, and there are tall trees behind it.',
  },
  {
    answer:
      'A snowy mountain slope is covered with skiers. In the foreground, a skier in a red jacket is going down the hill. Two snowboarders are resting on the left. The sky is clear and the sun is shining.',
  },
  {
    answer:
      'The photograph shows a desk with a laptop, a keyboard and a mouse. A cup of tea is placed next to the laptop. A small lamp on the right lights the desk. The room behind the desk is dark.',
  },
  {
    answer:
      'Three giraffes are standing under a tall tree and eating leaves. A zebra is walking in the background. The grass is dry and yellow. It looks like a hot summer day.',
  },
  {
    answer:
      'A black cat is sitting on a windowsill and looking outside. Outside the window, it is raining and the street is wet. A red car is parked on the street.',
  },
  {
    answer:
      'The picture shows a beach. Several colorful umbrellas are set up on the sand, and people are lying on towels. A boat is sailing on the water far away. The weather is sunny and warm.',
  },
  {
    answer:
      'On the plate there is a sandwich cut in half, some french fries and a pickle. A fork and a knife lie beside the plate. A glass of water stands on the right.',
  },
  {
    answer:
      'A little boy is playing with a soccer ball in a backyard. He is wearing a green shirt and blue shorts. A white dog is running next to him. A wooden fence is behind them.',
  },
  {
    answer:
      'The image shows an old bicycle leaning against a brick wall. The bicycle has a basket on the front with flowers in it. The wall is red and the door next to it is closed.',
  },
  {
    answer:
      'Inside the bakery, a glass case holds many donuts and cakes. A woman behind the counter is handing a box to a customer. The shop is busy and brightly lit.',
  },
  {
    answer:
      'Two people are riding motorcycles on a narrow road through the mountains. The first rider wears a black helmet. The road is wet after the rain, and fog covers the hills in the distance.',
  },
  {
    answer:
      'A large airplane is parked at the airport gate. A truck is loading luggage into the plane. Several workers in orange vests are standing near the wheels. The sky is overcast.',
  },
  {
    answer:
      'The scene shows a park in autumn. Brown leaves cover the ground. An old man is sitting on a bench and feeding pigeons. A child is running toward the birds.',
  },
  {
    answer:
      'This is a bedroom with a large bed covered by a white blanket. A teddy bear sits on the pillow. There is a clock on the nightstand and a lamp beside it. The curtains are closed.',
  },
  {
    answer:
      'A chef is cutting vegetables on a wooden board in a restaurant kitchen. There are carrots, onions and broccoli on the board. A large pot is boiling on the stove behind him.',
  },
];

const NUMBERS: Sample[] = [
  { answer: 'It costs 5 dollars.', question: 'How much does the sandwich cost?' },
  { answer: 'The clock shows 3:15.', question: 'What time is it?' },
  { answer: 'The sign says 25 mph.', question: 'What is the speed limit?' },
  { answer: '1995', question: 'What year is written on the building?' },
  { answer: 'The bus number is 42.', question: 'What number is the bus?' },
  { answer: 'The tower is about 2.5 meters tall.' },
  { answer: 'The player wears the number 10.' },
  { answer: 'The train is number 7.' },
  { answer: 'It is 12 degrees outside.' },
  { answer: 'The price tag reads 99 cents.' },
  { answer: 'The sign shows 100 meters to the exit.' },
  { answer: 'There are 3 slices left out of 8.' },
  { answer: 'The flight leaves from gate 4.' },
  { answer: 'The jersey has the number 23 on it.' },
  { answer: 'The temperature is 30 degrees.' },
  { answer: 'About 50 people are in the crowd.' },
  { answer: 'The license plate ends in 77.' },
  { answer: 'The cake has 6 candles.' },
  { answer: 'The room number is 214.' },
  { answer: 'The scoreboard shows 2 to 1.' },
];

export const ANSWERS: Sample[] = [...YES_NO, ...COUNTS, ...SHORT, ...CAPTIONS, ...LONG, ...NUMBERS];
