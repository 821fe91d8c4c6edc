package datagen

import "math/rand/v2"

// name is a first or last name as shown (possibly with accents or in kanji)
// and as used in an e-mail address (lower-case ASCII).
type name struct{ shown, ascii string }

// zone is an IANA time zone of a country and the phone number prefixes used
// there. A prefix is followed by suffixDigits random digits.
type zone struct {
	tz       string
	weight   int
	prefixes []string
}

type country struct {
	code         string
	weight       int // out of 1000
	zones        []zone
	suffixDigits int
	firstNames   []name
	lastNames    []string
}

// Phone numbers are E.164 and, where the country has one, from a range its
// regulator reserves for fiction:
//   - US, CA: NXX-555-0100 … 0199 (NANPA) in an area code of the zone;
//   - GB: 07700 900000 … 900999 (Ofcom drama numbers);
//   - DE: 030 23125 xxx, 040 66969 xxx, 069 90009 xxx, 089 99998 xxx
//     (Bundesnetzagentur);
//   - FR: 01 99 00 xx xx and 06 39 98 xx xx (ARCEP);
//   - AU: (02|03|07|08) 5550 xxxx (ACMA).
//
// Japan has no reserved range; +81 3 0000 xxxx is used, which cannot be
// dialled since a Japanese subscriber number never begins with 0.
//
// The reserved ranges are small, so at scale several customers share a number.

var englishFirst = []name{
	{"Olivia", "olivia"}, {"Liam", "liam"}, {"Emma", "emma"}, {"Noah", "noah"},
	{"Ava", "ava"}, {"Ethan", "ethan"}, {"Sophia", "sophia"}, {"Mason", "mason"},
	{"Isabella", "isabella"}, {"Lucas", "lucas"}, {"Mia", "mia"}, {"Logan", "logan"},
	{"Amelia", "amelia"}, {"Oliver", "oliver"}, {"Harper", "harper"}, {"Elijah", "elijah"},
	{"Evelyn", "evelyn"}, {"James", "james"}, {"Abigail", "abigail"}, {"Benjamin", "benjamin"},
	{"Charlotte", "charlotte"}, {"Jack", "jack"}, {"Grace", "grace"}, {"Henry", "henry"},
	{"Zoë", "zoe"}, {"José", "jose"}, {"Renée", "renee"}, {"Maya", "maya"},
	{"Daniel", "daniel"}, {"Chloe", "chloe"}, {"Samuel", "samuel"}, {"Lily", "lily"},
	{"Wyatt", "wyatt"}, {"Nora", "nora"}, {"Owen", "owen"}, {"Hazel", "hazel"},
	{"Caleb", "caleb"}, {"Aria", "aria"}, {"Ryan", "ryan"}, {"Sienna", "sienna"},
}

var englishLast = []string{
	"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
	"martinez", "wilson", "anderson", "taylor", "thomas", "moore", "martin", "jackson",
	"thompson", "white", "lopez", "lee", "harris", "clark", "lewis", "walker",
	"hall", "young", "king", "wright", "scott", "green", "baker", "adams",
	"nelson", "hill", "campbell", "mitchell", "roberts", "carter", "obrien", "nguyen",
}

var germanFirst = []name{
	{"Lukas", "lukas"}, {"Leon", "leon"}, {"Finn", "finn"}, {"Jonas", "jonas"},
	{"Paul", "paul"}, {"Felix", "felix"}, {"Maximilian", "maximilian"}, {"Emilia", "emilia"},
	{"Hannah", "hannah"}, {"Mia", "mia"}, {"Sophie", "sophie"}, {"Lena", "lena"},
	{"Marie", "marie"}, {"Jürgen", "juergen"}, {"Jörg", "joerg"}, {"Björn", "bjoern"},
	{"Anja", "anja"}, {"Käthe", "kaethe"}, {"Moritz", "moritz"}, {"Greta", "greta"},
}

var germanLast = []string{
	"mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker",
	"schulz", "hoffmann", "koch", "richter", "klein", "wolf", "schroeder", "neumann",
}

var frenchFirst = []name{
	{"Gabriel", "gabriel"}, {"Louis", "louis"}, {"Raphaël", "raphael"}, {"Jules", "jules"},
	{"Adam", "adam"}, {"Lucas", "lucas"}, {"Léa", "lea"}, {"Emma", "emma"},
	{"Chloé", "chloe"}, {"Manon", "manon"}, {"Camille", "camille"}, {"Inès", "ines"},
	{"Zoé", "zoe"}, {"Hélène", "helene"}, {"François", "francois"}, {"Margaux", "margaux"},
}

var frenchLast = []string{
	"martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand",
	"leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "garnier", "faure",
}

var japaneseFirst = []name{
	{"Haruto", "haruto"}, {"Yuto", "yuto"}, {"Sota", "sota"}, {"Yui", "yui"},
	{"Hina", "hina"}, {"Yuna", "yuna"}, {"Riku", "riku"}, {"Sakura", "sakura"},
	{"Aoi", "aoi"}, {"Ren", "ren"}, {"Kenji", "kenji"}, {"Yuki", "yuki"},
	{"陽翔", "haruto"}, {"結衣", "yui"},
}

var japaneseLast = []string{
	"sato", "suzuki", "takahashi", "tanaka", "watanabe", "ito", "yamamoto", "nakamura",
	"kobayashi", "kato", "yoshida", "yamada",
}

var countries = []country{
	{code: "US", weight: 450, suffixDigits: 2, firstNames: englishFirst, lastNames: englishLast, zones: []zone{
		{"America/New_York", 33, []string{"+1212", "+1617", "+1404", "+1305", "+1215", "+1802"}},
		{"America/Chicago", 28, []string{"+1312", "+1512", "+1612", "+1314", "+1615"}},
		{"America/Denver", 9, []string{"+1303", "+1801", "+1406", "+1505"}},
		{"America/Phoenix", 3, []string{"+1602", "+1520"}},
		{"America/Los_Angeles", 24, []string{"+1541", "+1503", "+1206", "+1415", "+1213", "+1619", "+1509"}},
		{"America/Anchorage", 2, []string{"+1907"}},
		{"Pacific/Honolulu", 1, []string{"+1808"}},
	}},
	{code: "CA", weight: 100, suffixDigits: 2, firstNames: englishFirst, lastNames: englishLast, zones: []zone{
		{"America/Toronto", 55, []string{"+1416", "+1613", "+1514", "+1647"}},
		{"America/Vancouver", 20, []string{"+1604", "+1250"}},
		{"America/Edmonton", 15, []string{"+1403", "+1780"}},
		{"America/Winnipeg", 5, []string{"+1204"}},
		{"America/Halifax", 5, []string{"+1902"}},
	}},
	{code: "GB", weight: 150, suffixDigits: 3, firstNames: englishFirst, lastNames: englishLast, zones: []zone{
		{"Europe/London", 1, []string{"+447700900"}},
	}},
	{code: "DE", weight: 120, suffixDigits: 3, firstNames: germanFirst, lastNames: germanLast, zones: []zone{
		{"Europe/Berlin", 1, []string{"+493023125", "+494066969", "+496990009", "+498999998"}},
	}},
	{code: "FR", weight: 80, suffixDigits: 4, firstNames: frenchFirst, lastNames: frenchLast, zones: []zone{
		{"Europe/Paris", 1, []string{"+3319900", "+3363998"}},
	}},
	{code: "AU", weight: 60, suffixDigits: 4, firstNames: englishFirst, lastNames: englishLast, zones: []zone{
		{"Australia/Sydney", 40, []string{"+6125550"}},
		{"Australia/Melbourne", 32, []string{"+6135550"}},
		{"Australia/Brisbane", 16, []string{"+6175550"}},
		{"Australia/Perth", 8, []string{"+6185550"}},
		{"Australia/Adelaide", 4, []string{"+6185550"}},
	}},
	{code: "JP", weight: 40, suffixDigits: 4, firstNames: japaneseFirst, lastNames: japaneseLast, zones: []zone{
		{"Asia/Tokyo", 1, []string{"+8130000"}},
	}},
}

// US and CA numbers are NXX-555-01dd: the prefix above is the area code.
const nanpExchange = "55501"

var countryTotal = func() int {
	t := 0
	for _, c := range countries {
		t += c.weight
	}
	return t
}()

func pickCountry(r *rand.Rand) *country {
	n := r.IntN(countryTotal)
	for i := range countries {
		if n < countries[i].weight {
			return &countries[i]
		}
		n -= countries[i].weight
	}
	return &countries[len(countries)-1]
}

func (c *country) pickZone(r *rand.Rand) *zone {
	t := 0
	for _, z := range c.zones {
		t += z.weight
	}
	n := r.IntN(t)
	for i := range c.zones {
		if n < c.zones[i].weight {
			return &c.zones[i]
		}
		n -= c.zones[i].weight
	}
	return &c.zones[len(c.zones)-1]
}

var emailDomains = []string{
	"example.com", "example.com", "example.com", "example.com", "example.com", "example.com",
	"example.org", "example.org", "example.org", "example.net",
}

var ageRanges = []struct {
	label  string
	weight int
}{
	{"18-24", 12}, {"25-34", 24}, {"35-44", 23}, {"45-54", 18}, {"55-64", 12}, {"65+", 8}, {"", 3},
}

var ageTotal = func() int {
	t := 0
	for _, a := range ageRanges {
		t += a.weight
	}
	return t
}()

func pickAge(r *rand.Rand) string {
	n := r.IntN(ageTotal)
	for _, a := range ageRanges {
		if n < a.weight {
			return a.label
		}
		n -= a.weight
	}
	return ""
}

// Products and categories of the shop, for event paths. Earlier products are
// more popular.
var products = []string{
	"summit-down-jacket", "trailhead-35l-pack", "ridgeline-trail-runner", "alpine-2p-tent",
	"basecamp-sleeping-bag-0c", "merino-base-layer", "storm-shell-rain-jacket", "canyon-hiking-boot",
	"featherlite-trekking-poles", "glacier-insulated-bottle", "headlamp-400", "camp-stove-duo",
	"trail-mix-sampler", "wool-hiking-socks-3pk", "packable-puffer-vest", "approach-shoe",
	"bouldering-crash-pad", "climbing-harness", "dynamic-rope-60m", "chalk-bag",
	"ultralight-hammock", "camp-chair", "titanium-spork", "water-filter-squeeze",
	"snowshoe-25", "avalanche-beacon", "ski-touring-skins", "goggles-polarized",
	"fleece-quarter-zip", "sun-hoodie", "kids-rain-boots", "dog-trail-harness",
}

var categories = []string{
	"jackets", "packs", "footwear", "tents", "sleeping", "climbing", "camp-kitchen", "snow", "kids", "sale",
}
