"""Ordinary English words, for refusing triggers that already mean something.

A trigger binds a character's identity only when the text encoder has no strong prior for it:
``man``, ``smile`` or ``john`` would pull the LoRA towards what those words already mean, and
every caption that uses the word for its ordinary sense would drag the character along.

The list below was written for this repository (Apache-2.0, like the rest of it): about 3,400
frequent English words, base forms plus common irregular forms, and the vocabulary captions of
people on video use. It deliberately stays small; rare dictionary words are fine as triggers
because the encoder barely knows them. :func:`is_english_word` also strips the regular
inflections (``-s``, ``-es``, ``-ies``, ``-ed``, ``-ing``, ``-er``, ``-est``, ``-ly``) so
``smiles`` or ``walking`` count too. No wordfreq-style frequency data is used: those datasets
carry share-alike licences, and a fixed list keeps validation identical on every machine.
"""

from __future__ import annotations

from functools import lru_cache

_WORDS = """
a able about above accept according account across act action active activity actor actress actual actually
add address admit adult advance advice afraid after afternoon again against age agency agent ago agree ahead
air airport album alive all allow almost alone along already also although always amazing among amount an
and anger angle angry animal another answer any anybody anymore anyone anything anyway anywhere apart
apartment appear apple apply approach area argue arm army around arrive art article artist as ask asleep
assume at attack attempt attention audience aunt author autumn available avenue average avoid awake away
awful baby back background bad badly bag ball band bank bar base basic basket bath bathroom battle be beach
bear beat beautiful beauty because become bed bedroom beer before begin behind being believe bell belong
below belt bench bend beneath beside best better between beyond bicycle big bike bill bird birth birthday
bit bite black blade blame blank blanket blind block blonde blood blow blue board boat body bone book boot
border born borrow boss both bottle bottom bowl box boy brain branch brave bread break breakfast breath
breathe brick bridge brief bright bring broad broken brother brown brush budget build building burn bus
business busy but butter button buy by cab cafe cake call calm camera camp campaign can candle cap capital
captain car card care career careful carry case cash cast cat catch cause ceiling celebrate cell center
centre century certain chain chair challenge champion chance change channel chapter character charge chart
chase cheap check cheek cheese chef chest chicken chief child childhood children chin chocolate choice
choose church cigarette circle citizen city claim class classic clean clear clerk clever client climb clock
close closet cloth clothes cloud club coach coast coat code coffee cold collar collect college color colour
column combination come comfort comfortable command comment common community company compare complete
computer concern concert condition confidence confident connect consider contain content contest continue
control conversation cook cool copy corner correct cost costume couch could count counter country couple
courage course court cousin cover cow crash crazy cream create credit crew crime crisis cross crowd crown
cry cultural culture cup curious current curtain customer cut cute cycle dad daily damage dance danger
dangerous dark data date daughter day dead deal dear death debate decade decide decision deep deer defense
degree deliver demand dentist deny department depend describe desert design desk detail develop device die
difference different difficult dig dinner direct direction director dirt dirty discover discuss discussion
disease dish distance do doctor document dog dollar door double doubt down downtown dozen draft drag drama
draw drawer dream dress drink drive driver drop drug drum dry duck due during dust duty each ear early earn
earth easily east easy eat economy edge education effect effort egg eight either elbow election electric
element elevator else email emergency emotion employee empty end enemy energy engine enjoy enough enter
entire environment equal escape especially establish even evening event ever every everybody everyone
everything everywhere evidence evil exact exactly exam example excellent except exchange excited exciting
excuse exercise exist exit expect expensive experience expert explain express expression extra eye face
fact factory fail fair faith fall false family famous fan far farm farmer fashion fast fat father fault
favor favorite favourite fear feature federal feed feel feeling fellow female fence festival few field
fifteen fifty fight figure file fill film final finally find fine finger finish fire firm first fish five
fix flag flat flight floor flower fly focus fog folk follow food foot football for force forehead foreign
forest forever forget forgive fork form former forward four fox frame free freedom fresh friend friendly
from front fruit full fun funny furniture future gain game garage garden gas gate gather general gentle
gentleman gesture get ghost giant gift girl give glad glass glasses glove go goal god gold golden good
government grab grade grand grandfather grandmother grass gray great green grey ground group grow guard
guess guest guide guitar gun guy habit hair half hall hallway hand handle handsome hang happen happy hard
hardly hat hate have he head health healthy hear heart heat heavy height hello help her here hero herself
hi hide high hill him himself hip hire his history hit hold hole holiday home honest hope horse hospital
host hot hotel hour house how however huge human humor hundred hungry hunt hurry hurt husband i ice idea
identity if ignore ill image imagine important impossible improve in inch include increase indeed indoor
indoors industry information inside instead interest interesting interview into introduce invite iron
island issue it item its itself jacket job join joke journey joy judge juice jump just justice keep key
kick kid kill kind king kiss kitchen knee knife knock know knowledge lab lack lady lake lamp land language
large last late later laugh law lawyer lay lazy lead leader leaf lean learn least leather leave left leg
legal lemon less lesson let letter level library lie life lift light like likely limit line lip list
listen little live living load local lock long look loose lose loss lost lot loud love lovely low luck
lucky lunch machine mad magazine magic mail main major make male mall man manage manager many map mark
market marriage married marry mask master match material matter may maybe me meal mean meaning measure
meat media medical medicine meet meeting member memory mention menu mess message metal method middle
midnight might mile military milk mind mine minister minute mirror miss mission mistake mix model modern
mom moment money monkey month mood moon more morning most mother motion mountain mouse mouth move movement
movie much mud museum music musician must my myself mystery nail name narrow nation national natural
nature near nearly neat necessary neck need neighbor neighbour neither nervous network never new news
newspaper next nice night nine no nobody noise none noon nor normal north nose not note nothing notice
novel now number nurse object obvious occur ocean of off offer office officer official often oil okay old
on once one online only onto open opera operation opinion opportunity or orange order ordinary other our
ourselves out outdoor outdoors outside over own owner pack page pain paint painting pair palace pale palm
pan panel paper parent park part partner party pass passenger past path patient pattern pause pay peace
pen pencil people pepper per perfect perform performance perhaps period person personal phone photo
photograph photographer physical piano pick picture piece pig pile pilot pink pipe place plan plane planet
plant plastic plate play player pleasant please pleasure plenty pocket poem poet point police polite
political pool poor popular population porch portrait position positive possible post pot potato pound
pour power practice prepare present president press pretty prevent price pride priest prince princess
print prison private prize probably problem process produce product professor profile program project
promise proper protect proud prove provide public pull punch purple purpose push put quality quarter queen
question quick quickly quiet quite race radio rain raise range rate rather reach read ready real reality
realize really reason receive recent record red reflect refuse region relationship relax release remain
remember remove rent repeat reply report reporter represent request rescue research respect rest
restaurant result return rich ride right ring rise risk river road rock role roll roof room root rope rose
rough round row royal rub rule run rush sad safe sail salad salt same sand save say scene school science
scientist score scream screen sea search season seat second secret secretary section see seem sell send
sense serious serve service set settle seven several shadow shake shall shape share sharp she sheet shelf
shine ship shirt shock shoe shoot shop shore short shot should shoulder shout show shower shut shy sick
side sight sign signal silence silent silly silver similar simple since sing singer single sink sir
sister sit situation six size skill skin skirt sky sleep slide slight slow slowly small smart smell smile
smoke smooth snake snow so soap social society sock soft soldier solid some somebody someone something
sometimes somewhere son song soon sorry sort soul sound soup source south space speak speaker special
speech speed spend spirit spoon sport spot spread spring square staff stage stair stairs stand standard
star stare start state station stay steal step stick still stomach stone stop store storm story straight
strange stranger street strength stress stretch strike string strong student studio study stuff stupid
style subject success successful such sudden suddenly sugar suggest suit summer sun sunny sunset sunlight
super support suppose sure surface surprise sweater sweet swim switch system table tail take talk tall
tape task taste tax taxi tea teach teacher team tear technology teeth telephone television tell ten tennis
tent term terrible test than thank that the theater theatre their them themselves then there these they
thick thin thing think third thirty this those though thought thousand threat three throat through throw
thumb ticket tie tight time tiny tip tired title to today toe together toilet tomorrow tone tongue tonight
too tool tooth top topic total touch tough tour toward towards tower town toy track trade tradition
traffic train travel treat tree trial trip trouble truck true trust truth try tube turn twelve twenty
twice twin two type ugly uncle under understand uniform union unit university until up upon upper upset
us use useful usual usually vacation valley value van various vegetable vehicle very victim video view
village violence visit visitor voice vote wait waiter wake walk wall want war warm warn wash watch water
wave way we weak wealth weapon wear weather wedding week weekend weight welcome well west wet what
whatever wheel when where whether which while whisper white who whole whom whose why wide wife wild will
win wind window wine wing winner winter wise wish with within without woman wonder wonderful wood wooden
word work worker world worry worse worst worth would wound wrap write writer wrong yard yeah year yell
yellow yes yesterday yet you young your yourself youth zero zone
ache acting actively additional afford airplane alarm alcohol alley amuse ankle anxious appearance
applause approve arch arrange arrest arrow ash asian aside attach attend attractive awkward axe backyard
bake balance balcony bald bang banner bare bark barn barrel bay beam bean beard beg behave belly beloved
bet bless blink bloom blouse blush boil bold bomb bond bored boring bounce bow brake brand brass breeze
bride brilliant broadcast brow bucket bug bulb bullet bump bunch burst bury bush butterfly cabin cabinet
cable cage calendar camel candy cane canvas canyon cape carpet cart cartoon carve castle casual cave
chalk champagne charm chat cheer cherry chew chill chimney chip choir chop cigar cinema citizen clap clay
cliff clip cloak clothing clown clue coin collapse comb comedy comic concrete cop cord cork corridor
costly cottage cotton cough countryside crack craft crawl creek crew cricket crop crowded cruel crystal
cupboard curl curve cushion cycle dash dawn daylight deck decorate delight delicious desire dessert dial
diamond diary dim dine dinosaur dirt disco dive dock doll dolphin dome donkey dot dough dove drift drill
drip drown drunk dull dusk eager eagle echo elegant elephant embrace emerge empire enormous envelope
evening exhausted fabric fade faint fairy fake fame fancy fantasy farewell fat feast feather fever fiber
fierce fig film filter fist flame flash flashlight flesh flip float flood flour fluid flute foam fold
folder forehead fountain frame freeze fridge frog frost frown fur gallery gap garbage gasp gaze gear gem
ghost giggle glance glare gleam glimpse globe glory glow glue goat goose gown grace grain grape grateful
grave gravel greet grin grip groan guilty gym hammer harbor harbour harvest hay headline heel hell helmet
herb highway hike hint hobby hood hook horizon horn hug hum humble hut ink insect jaw jazz jeans jewel
jewelry joint jungle kettle keyboard kid kit kneel knot label ladder lamb lane lantern laptop laser
lawn layer leaf leap lens lid lightning lime linen lion liquid lizard loaf lobby log lonely loop lord
lounge lump mad mansion marble march mat meadow melt mess microphone mild mist moist monster mop mosquito
moss moth motor mud mug mule mural murmur muscle mushroom mustache moustache napkin necklace needle nest
net nod noodle nun nut oak oar oath orchestra oven owl pad paddle palm pancake panic pants parade parrot
pastry patch pause paw peach peak pear pearl pebble peel pet petal pillow pin pine pit pizza plain plate
platform plug plum poison pole pond pony porch portrait poster pouch powder prairie pray prayer puddle
pulse pump pumpkin pupil puppet puppy purse puzzle pyramid quilt rabbit rack rail railway rainbow rake
ranch rat raw ray razor rear rib ribbon rice riddle rifle ripple roar robe robot rocket rod roof rug
ruin ruler rust sack saddle sailor salmon sandwich sauce scar scarf scissors scratch screw script sculpture
seal seed shade shallow shark shave shed shell shield shiver shore shrug sigh silk sink sip skate
sketch ski skull slap sleeve slice slim slipper slope smash sneeze snore soap sofa soil spark sparkle
spice spider spill spin spine splash sponge spray squeeze squirrel stable stack stadium stain stamp
statue steam steel steep stem stir stool stove strap straw stream stripe stroll stump sugar suitcase
sunshine swallow swamp swan sweat sweep swing sword tablet tap tattoo tear temple tender thief thread
throne thunder tide tile timber toast tomato torch towel toy tractor trail tray treasure trick trophy
tulip tunnel turkey turtle twig umbrella valley vase velvet vest violin wagon waist wallet wand wax web
weed whale wheat whip whistle wig window wink wire witch wolf worm wrist yacht yarn yawn
ability absence absolute abuse academic academy accident accomplish accurate achieve achievement acid
acquire adapt adequate adjust administration admire adopt advanced advantage adventure advertise affair
affect afterward aggressive agreement aid aim alike alliance alter alternative amateur ambition amendment
analysis ancestor ancient anniversary announce annual anticipate anxiety apparent appeal appetite
appointment appreciate appropriate approximately architect architecture arena argument arise artistic
aspect assault assembly assess asset assignment assist assistance associate association atmosphere
attitude attorney attract auction authority automatic award aware awareness balanced ban barely barrier
basement basis battery bedtime beginning behavior behaviour benefit bias bible biological bite bitter
blend boost bound boundary breast breeding brilliant broker burden bureau cabinet calculate candidate
capable capacity capture carbon careless cargo carrier category ceremony chairman championship chaos
characteristic charity chemical chemistry chosen circumstance civil civilian clarify classroom clinic
coalition cognitive collection colonial combat comfortable commercial commission commit commitment
committee communicate communication compete competition competitor complain complex component compose
concentrate concept conclude conclusion conduct conference confirm conflict confront confusion congress
consequence conservative considerable consistent constant constitution construct construction consult
consumer contact contemporary context contract contrast contribute convention convince cooperation cope
corporate corporation correspondent council counselor courtroom coverage creative creature criminal
critic critical criticism crucial cure curriculum dairy deadline debt decline dedicate defeat defend
define definitely deliberately democracy democratic demonstrate deposit depression deputy derive deserve
desperate despite destroy destruction detect determine devote diet digital dimension diplomatic disaster
discipline discount disorder display dispute distinct distinguish distribute district diverse divide
divorce domestic dominant donate dramatic dynamic earnings eastern ecological economic economist edition
editor educational effective efficiency efficient elderly elect electricity elementary eliminate elite
embarrassed emerging emission emotional emphasis empty enable encounter encourage enforcement engage
engineer engineering enhance enterprise entertainment enthusiasm entry episode equipment era essay
essential estate estimate ethical ethnic evaluate eventually evolution evolve examine exceed exception
excessive executive exhibit exhibition expand expansion expectation expedition experiment explanation
explode exploration explosion expose exposure extend extension extensive extent external extreme
extremely facility faculty fatal favorable feedback fiction financial firefighter fiscal fitness flavor
flexible fluid formal formation formula fortune foundation founder fraction framework frequency frequent
frequently frustration fuel function fund fundamental funding funeral galaxy gallery gang gender gene
generate generation generous genetic genius genre gifted glance global governor gradually graduate grant
graphic gravity grief guarantee guideline guilt headquarters heaven helicopter heritage hesitate highlight
historian historic historical hockey honey honor horrible horror hostage hostile household housing
humanity hunter hypothesis ideal identify ideology illegal illness illustrate immediately immigrant
immigration impact implement implication imply impose impress impression impressive incentive incident
income incorporate incredible independence independent index indicate indication individual infant
infection inflation influence initial initiative injury inner innocent innovation input inquiry insight
insist inspection inspector inspire install instance institution instruction instructor instrument
insurance intellectual intelligence intend intense intensity intention interaction internal international
internet interpret interpretation intervention invasion invest investigate investigation investment
investor invisible involve involved isolated journal journalist jury justify keen label laboratory
landscape largely launch lawsuit leadership league lecture legacy legend legislation legitimate leisure
liberal lifestyle lifetime likewise literally literary literature litigation loan location logic
long-term loyal luxury magnitude maintain majority makeup management manufacturer manufacturing margin
marketing mass massive meanwhile mechanism medium membership mental merchant mere merely mess metaphor
meter middle-class migration mineral minimum minority miracle missile moderate modest molecule monitor
moral moreover mortgage motivation motive mount municipal mutual myth naked narrative nearby negotiate
negotiation nerve neutral nevertheless nominee nonetheless notion nuclear numerous nutrient objective
obligation observation observe observer obtain occasion occasionally occupation odd offensive ongoing
opening operate operator opponent oppose opposite opposition option organic organization organize
orientation origin original otherwise outcome outfit output overall overcome overlook owe ownership
package painful painter pale panel parking participant participate participation particular particularly
partly partnership passage passion patience patrol peasant peer penalty pension percentage perception
permanent permission permit persuade phase phenomenon philosophy photography phrase pioneer pitch plot
pole policy portion possess possession potential poverty practical precisely predict preference pregnancy
pregnant premium presence preserve pressure presumably previous previously primary prime principal
principle prior priority procedure profession professional profit profound progress prohibit prominent
promote prompt proof proportion proposal propose prosecutor prospect protection protein protest
psychological psychology publication publish punishment purchase pursue qualify quantity quarterback
quest quote racial radical rapid rarely ratio rational reaction recall recipe recognition recognize
recommend recommendation recover recovery recruit reduce reduction refer reference reform refugee regard
regime regional register regular regulate regulation reinforce reject relate relation relative
relatively relevant relief religion religious rely remarkable remind remote repair replace representation
representative republic reputation require requirement reservation resident resist resistance resolution
resolve resort resource respond response responsibility responsible restore restriction retain retire
retirement reveal revenue reverse review revolution reward rhythm rival romantic rural sacred sake
sample satellite satisfaction satisfy scale scandal scenario schedule scheme scholar scholarship
sector secure security segment seize select selection senator senior sensitive sentence separate
sequence session setting severe sexual shareholder shelter shift shortly sibling significance
significant significantly silly simply simultaneously skilled slave sleeve slip soccer software solar
solution solve somewhat sophisticated sovereignty specialist species specific specifically spectrum
speculation spending sphere spiritual split sponsor stability stable statement statistics status
steady stimulus stock strategic strategy structure struggle submit subsequent substance substantial
suburb succeed suffer sufficient suicide summit supplier supply supposedly supreme surgeon surgery
surround survey survival survive survivor suspect suspend sustain symbol symptom talent target
teaspoon technical technique teenager telescope temperature temporary tendency tension terms terrain
territory terror terrorism terrorist testimony testing theme theory therapy thereby therefore thesis
thoroughly threaten tissue tobacco tolerate tournament trace trader tragedy trail transfer transform
transformation transition translate transportation trauma treatment treaty tremendous trend tribe
tribal troop tropical twentieth ultimate ultimately unemployment unfortunately unique universal unknown
unlike unlikely urban urge utility vacuum valuable variable variation variety vast venture version
versus vessel veteran via victory viewer violate violent virtual virtually virtue virus visible vision
visual vital volume volunteer voter vulnerable wage wealthy web wherever whereas widely widespread
wildlife willing wisdom withdraw witness workshop worldwide worried wound yield
ate began bitten blew bought brought built came caught chose chosen could did does done drank drawn drew
driven drove eaten fed felt fled flew forgot forgotten fought found gave given gone got gotten grew
grown had has heard held hid hidden hung is kept knew known laid led left lent lit lost made meant men
met might paid ran rang rode risen rose sang sank sat saw seen sent shook shot showed shown shut slept
slid sold sought spoke spoken spent spun stood stole stolen struck stuck sung swam swept swore swung
taken taught thrown threw told took tore torn understood was went were woke won wore worn wound wrote
written children feet geese lives mice people teeth women wives knives leaves halves selves
am are been having doing going saying making getting seeing coming taking
blue-eyed close-up closeup selfie tv ok lol wow ooh hey smiley
"""

# Common given names are as loaded as words: a trigger ``john`` drags every John the encoder knows.
_NAMES = """
adam alex alice amy andrew anna anne ben bill bob charles charlie chris daniel david emily emma eric
frank george grace harry helen henry jack jacob james jane jessica jim joe john jonathan joseph josh
julia kate kevin laura linda lisa lucy mark mary matt max michael mike nick olivia paul peter rachel
richard robert ryan sam sarah scott sophia steve susan thomas tom tony william
"""


@lru_cache(maxsize=1)
def words() -> frozenset[str]:
    """The list, lower case (built once, on first use)."""
    return frozenset(_WORDS.split()) | frozenset(_NAMES.split())


def _stems(word: str) -> list[str]:
    """The word and what it could be inflected from (regular English suffixes only)."""
    out = [word]
    for suffix, replacement in (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"),
                                ("ing", ""), ("ing", "e"), ("er", ""), ("er", "e"), ("est", ""), ("ly", ""),
                                ("ily", "y")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            stem = word[: len(word) - len(suffix)] + replacement
            out.append(stem)
            if len(stem) > 2 and stem[-1] == stem[-2]:  # running -> runn -> run
                out.append(stem[:-1])
    return out


def is_english_word(text: str) -> bool:
    """Whether ``text`` (any case) is an ordinary English word or a regular inflection of one."""
    word = text.strip().lower()
    vocab = words()
    # Two rounds catch stacked suffixes (runners -> runner -> run).
    return any(stem in vocab or any(s in vocab for s in _stems(stem)) for stem in _stems(word))
