"""A duplicate-heavy synthetic CRM with ground truth, to measure person deduplication.

`generate_duplicate_crm()` writes one `crm_contacts` landing file in which real people appear
many times (lead-form re-entries, list imports, sales entries, badge scans, shop accounts,
support calls), each record as messy as its channel makes it, plus the truth of who is who.
`crm_truth_pairs()` and `pairwise_scores()` measure a clustering against that truth.

What makes it hard, on purpose:

* Records per person: most persons once, a good share two or three times, a heavy tail with
  `min_records`..`max_records` records (power law).
* Per record, at rates that depend on the channel: missing fields, one-edit typos (insert,
  delete, substitute with a keyboard neighbour, transpose), nicknames (Bob for Robert),
  spelling variants (Steven/Stephen), initials, first and last name swapped, the whole name
  in `full_name` only ("Smith, John", "Dr. John A. Smith"), upper/lower case, stray and
  doubled spaces, accents dropped, a maiden name before a marriage, a new work email and
  company after a job change (sometimes the old company left in place), an old address
  before a move, the household's landline or the company switchboard instead of the mobile,
  phones in many formats, street types abbreviated (Street/St/St.), ZIP codes that lost their
  leading zero or gained +4, date of birth with day and month swapped, a digit wrong or a
  placeholder (1900-01-01), and double submissions that copy the previous record.
* Hard negatives: households (partners with one surname, adult children, twins with the same
  surname, birth date and address, a Jr. with his father's name) sharing an address, a
  landline and sometimes a family email; colleagues sharing a company, a switchboard number
  and an email domain; neighbours in one building; a Zipf name distribution, so that common
  names (John Smith) recur in one city; surname and city shared by unrelated persons.

Deterministic: the same arguments give byte-identical files (numpy `Generator` streams keyed
by the seed; no wall-clock time). Only local name lists are used.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

SOURCE = "crm_contacts"
COLUMNS = (
    "crm_id", "user_id", "email", "phone", "first_name", "last_name", "full_name",
    "date_of_birth", "address", "postcode", "city", "company", "role", "country",
    "created_at", "updated_at",
)  # fmt: skip

# --------------------------------------------------------------------------------------------
# Vocabulary: names with a realistic frequency skew (Zipf-Mandelbrot over the list order)
# --------------------------------------------------------------------------------------------

MALE_NAMES = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul",
    "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward",
    "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen",
    "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Frank",
    "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "José", "Adam", "Nathan",
    "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter", "Noah", "Jeremy",
    "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold", "Sean", "Austin", "Carl",
    "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy", "Joe", "Bruce",
    "Gabriel", "Logan", "Albert", "Willie", "Alan", "Juan", "Wayne", "Elijah", "Randy", "Roy",
    "Vincent", "Ralph", "Eugene", "Russell", "Bobby", "Mason", "Philip", "Louis", "Oliver",
    "Harry", "Liam", "Connor", "Callum", "Declan", "Rhys", "Owen", "Gareth", "Ian", "Graham",
    "Nigel", "Colin", "Neil", "Stuart", "Malcolm", "Hamish", "Angus", "Jamie", "Alfie",
    "Charlie", "Archie", "Leo", "Theo", "Max", "Mohammed", "Ahmed", "Ali", "Omar", "Wei", "Jun",
    "Hiroshi", "Raj", "Arjun", "Rahul", "Vikram", "Carlos", "Luis", "Miguel", "Diego", "Mateo",
    "Pierre", "Jean", "Luca", "Marco", "Giovanni", "Hans", "Lars", "Sven", "Björn", "Olivier",
    "François", "André", "Tomasz", "Piotr", "Ivan", "Dmitri", "Sergei", "Kwame", "Chinedu",
)  # fmt: skip
FEMALE_NAMES = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly",
    "Emily", "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah",
    "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela",
    "Shirley", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine",
    "Christine", "Debra", "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather",
    "Diane", "Ruth", "Julie", "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren",
    "Christina", "Joan", "Evelyn", "Judith", "Megan", "Andrea", "Cheryl", "Hannah",
    "Jacqueline", "Martha", "Gloria", "Teresa", "Ann", "Sara", "Madison", "Frances", "Kathryn",
    "Janice", "Abigail", "Alice", "Judy", "Sophia", "Grace", "Denise", "Amber", "Doris",
    "Marilyn", "Danielle", "Beverly", "Isabella", "Theresa", "Diana", "Natalie", "Brittany",
    "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Chloé", "Priya", "Ananya", "Aisha",
    "Fatima", "Mei", "Yuki", "Sakura", "Sofia", "Lucía", "Camila", "Valentina", "Chiara",
    "Giulia", "Anja", "Ingrid", "Zoë", "Renée", "Amélie", "Agnieszka", "Olga", "Svetlana",
    "Ngozi", "Amara", "Siobhan", "Niamh", "Aoife", "Sinéad", "Bethan", "Fiona", "Morag",
    "Eilidh", "Isla", "Freya", "Poppy", "Ellie", "Amelia", "Jade", "Leah", "Holly", "Gemma",
    "Claire", "Joanne", "Tracey", "Wendy", "Yvonne", "Lorraine", "Paula", "Alison", "Gillian",
    "Nadia", "Leila", "Mariam", "Rosa", "Carmen", "Elena", "Irina", "Hye-jin", "Min-ji",
)  # fmt: skip
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina",
    "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison",
    "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry",
    "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson",
    "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon",
    "Muñoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd",
    "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza",
    "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne",
    "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce", "Vazquez", "Hansen",
    "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott", "Cunningham", "Duncan",
    "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Alvarado", "Ray", "Delgado",
    "Berry", "Perkins", "Hoffman", "Johnston", "Matthews", "Peña", "Richards", "Contreras",
    "Willis", "Carpenter", "Lawrence", "Sandoval", "O'Brien", "O'Connor", "O'Neill",
    "MacDonald", "McCarthy", "MacLeod", "Fraser", "Thomson", "Davies", "Lloyd", "Hughes-Jones",
    "Singh", "Shah", "Kumar", "Sharma", "Khan", "Ahmed", "Hussain", "Ali", "Wang", "Li",
    "Zhang", "Liu", "Huang", "Wong", "Tanaka", "Suzuki", "Sato", "Park", "Choi", "Okafor",
    "Mensah", "Adeyemi", "Kowalski", "Nowak", "Müller", "Schneider", "Fischer", "Weber",
    "Rossi", "Russo", "Bianchi", "Dubois", "Lefèvre", "Moreau", "Laurent", "Tremblay",
    "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier", "Ivanov", "Petrov", "Novak", "Jansen",
    "de Vries", "van der Berg", "de la Cruz", "Van Dyke", "Larsen", "Nielsen", "Johansson",
    "Eriksson", "Andersson", "Byrne", "Doyle", "Walsh", "Quinn", "Brennan", "Gallagher",
)  # fmt: skip
MIDDLE_INITIALS = "ABCDEFGHJKLMNPRSTW"

# Nicknames people go by or salespeople type, and spellings of the same name heard aloud.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby", "Robbie"), "William": ("Bill", "Will", "Billy"),
    "Richard": ("Rick", "Rich", "Dick", "Richie"), "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"), "Michael": ("Mike", "Mick", "Mikey"), "Joseph": ("Joe", "Joey"),
    "Thomas": ("Tom", "Tommy"), "Charles": ("Charlie", "Chuck", "Chas"),
    "Christopher": ("Chris", "Kit"), "Daniel": ("Dan", "Danny"), "Matthew": ("Matt",),
    "Anthony": ("Tony",), "Donald": ("Don", "Donnie"), "Steven": ("Steve",),
    "Stephen": ("Steve",), "Andrew": ("Andy", "Drew"), "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"), "Timothy": ("Tim", "Timmy"), "Ronald": ("Ron", "Ronnie"),
    "Edward": ("Ed", "Eddie", "Ted"), "Jeffrey": ("Jeff",), "Nicholas": ("Nick", "Nicky"),
    "Jonathan": ("Jon", "Jonny"), "Benjamin": ("Ben", "Benny"), "Samuel": ("Sam", "Sammy"),
    "Gregory": ("Greg",), "Alexander": ("Alex", "Sandy", "Xander"), "Patrick": ("Pat", "Paddy"),
    "Raymond": ("Ray",), "Gerald": ("Gerry", "Jerry"), "Lawrence": ("Larry",),
    "Peter": ("Pete",), "Zachary": ("Zach", "Zack"), "Douglas": ("Doug",), "Philip": ("Phil",),
    "Harold": ("Harry", "Hal"), "Albert": ("Al", "Bert"), "Walter": ("Walt",),
    "Eugene": ("Gene",), "Russell": ("Russ",), "Vincent": ("Vince", "Vinny"),
    "Arthur": ("Art",), "Nathan": ("Nate",), "Henry": ("Hank", "Harry"), "Dmitri": ("Dima",),
    "Frank": ("Frankie",), "Dennis": ("Denny",), "Terry": ("Tel",), "Ivan": ("Vanya",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie", "Eliza"),
    "Margaret": ("Maggie", "Peggy", "Meg"), "Patricia": ("Pat", "Patty", "Tricia"),
    "Jennifer": ("Jen", "Jenny"), "Susan": ("Sue", "Susie"), "Jessica": ("Jess", "Jessie"),
    "Katherine": ("Kate", "Kathy", "Katie"), "Catherine": ("Cathy", "Kate", "Cat"),
    "Kathleen": ("Kathy", "Kate"), "Deborah": ("Debbie", "Deb"), "Debra": ("Debbie", "Deb"),
    "Rebecca": ("Becky", "Becca"), "Samantha": ("Sam", "Sammy"), "Christine": ("Chris",),
    "Christina": ("Tina", "Chris"), "Pamela": ("Pam",), "Cynthia": ("Cindy",),
    "Victoria": ("Vicky", "Tori"), "Abigail": ("Abby",), "Stephanie": ("Steph",),
    "Kimberly": ("Kim",), "Amanda": ("Mandy",), "Melissa": ("Mel", "Missy"),
    "Dorothy": ("Dot", "Dottie"), "Judith": ("Judy",), "Barbara": ("Barb",),
    "Teresa": ("Terry", "Tess"), "Theresa": ("Terry", "Tess"), "Frances": ("Fran",),
    "Jacqueline": ("Jackie",), "Natalie": ("Nat",), "Sandra": ("Sandy",),
    "Isabella": ("Bella", "Izzy"), "Sophia": ("Sophie",), "Charlotte": ("Charlie", "Lottie"),
    "Danielle": ("Dani",), "Virginia": ("Ginny",), "Amelia": ("Millie",),
    "Svetlana": ("Sveta",), "Gillian": ("Jill",), "Valentina": ("Vale",),
}  # fmt: skip
SPELLINGS: dict[str, tuple[str, ...]] = {
    "Steven": ("Stephen",), "Stephen": ("Steven",), "Catherine": ("Katherine", "Kathryn"),
    "Katherine": ("Catherine", "Kathryn"), "Kathryn": ("Katherine",), "Sara": ("Sarah",),
    "Sarah": ("Sara",), "Mohammed": ("Muhammad", "Mohamed", "Mohammad"), "Brian": ("Bryan",),
    "Bryan": ("Brian",), "Ann": ("Anne",), "Carl": ("Karl",), "Philip": ("Phillip",),
    "Alan": ("Allan", "Allen"), "Jeffrey": ("Geoffrey", "Jeffery"), "Teresa": ("Theresa",),
    "Theresa": ("Teresa",), "Jon": ("John",), "Sean": ("Shaun", "Shawn"), "Leah": ("Lea",),
    "Tracey": ("Tracy",), "Lori": ("Laurie",), "Isla": ("Islay",), "Niamh": ("Neve",),
    "Siobhan": ("Shivaun",), "Mei": ("May",), "Dmitri": ("Dmitry", "Dimitri"),
    "Sergei": ("Sergey",), "Olivier": ("Oliver",), "Ahmed": ("Ahmad",), "Omar": ("Umar",),
    "Jade": ("Jayde",), "Hye-jin": ("Hyejin", "Hye Jin"), "Min-ji": ("Minji", "Min Ji"),
}  # fmt: skip
SURNAME_SPELLINGS: dict[str, tuple[str, ...]] = {
    "McDonald": ("MacDonald", "Mcdonald", "Mc Donald"), "MacDonald": ("McDonald", "Macdonald"),
    "O'Brien": ("OBrien", "O Brien", "O’Brien"), "O'Connor": ("OConnor", "O Connor"),
    "O'Neill": ("ONeill", "O'Neil"), "MacLeod": ("McLeod", "Macleod"),
    "Thomson": ("Thompson",), "Thompson": ("Thomson",), "Hughes-Jones": ("Hughes Jones", "Jones"),
    "de Vries": ("De Vries", "Devries"), "van der Berg": ("Van Der Berg", "Vandenberg"),
    "de la Cruz": ("De La Cruz", "Delacruz", "Cruz"), "Van Dyke": ("VanDyke", "Vandyke"),
    "Li": ("Lee",), "Wong": ("Wang",), "Nowak": ("Novak",), "Schneider": ("Snyder",),
    "Gonzalez": ("Gonzales",), "Gonzales": ("Gonzalez",), "Johansson": ("Johanson",),
    "McCarthy": ("MacCarthy", "Mccarthy"), "Ivanov": ("Ivanoff",), "Petrov": ("Petroff",),
}  # fmt: skip
# Full names that come up again and again, for distinct persons (hard negatives).
COMMON_MALE = (("John", "Smith"), ("David", "Jones"), ("Michael", "Brown"), ("James", "Wilson"))
COMMON_FEMALE = (("Mary", "Johnson"), ("Maria", "Garcia"), ("Sarah", "Williams"))
TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Dr")

# --------------------------------------------------------------------------------------------
# Places: cities with their postcodes and dialling codes, streets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _City:
    name: str
    aliases: tuple[str, ...]  # other ways people write it
    codes: tuple[str, ...]  # ZIP3 prefixes (US), outward codes (GB), FSAs (CA)
    area: tuple[str, ...]  # area codes (NANP) or GB area code without the trunk 0


def _c(name: str, codes: str, area: str, *aliases: str) -> _City:
    return _City(name, aliases, tuple(codes.split()), tuple(area.split()))


CITIES: dict[str, tuple[_City, ...]] = {
    "US": (
        _c("New York", "100 101 102 103 104", "212 646 917 718", "NYC", "New York City", "NY"),
        _c("Los Angeles", "900 901", "213 310 323", "LA", "L.A."),
        _c("Chicago", "606", "312 773", "Chgo"),
        _c("Houston", "770", "713 832"),
        _c("Phoenix", "850", "602 480"),
        _c("Philadelphia", "191", "215 267", "Phila", "Philly"),
        _c("San Antonio", "782", "210"),
        _c("San Diego", "921", "619 858"),
        _c("Dallas", "752", "214 469"),
        _c("Boston", "021 022", "617 857"),
        _c("Seattle", "981", "206"),
        _c("Austin", "787", "512 737"),
        _c("Denver", "802", "303 720"),
        _c("Atlanta", "303", "404 678"),
        _c("Miami", "331", "305 786"),
        _c("St. Louis", "631", "314", "Saint Louis", "St Louis"),
        _c("Fort Worth", "761", "817", "Ft Worth", "Ft. Worth"),
        _c("Portland", "972", "503 971"),
        _c("Newark", "071", "973 862"),
        _c("Springfield", "011", "413"),
        _c("Hartford", "061", "860"),
        _c("Salt Lake City", "841", "801 385", "SLC", "Salt Lake"),
        _c("Minneapolis", "554", "612", "Mpls"),
        _c("Pittsburgh", "152", "412", "Pittsburg"),
    ),
    "GB": (
        _c("London", "E1 E14 N1 N7 NW1 NW3 SE1 SE15 SW11 SW1A W1 W2 WC1 EC1", "20"),
        _c("Birmingham", "B1 B15 B29", "121", "B'ham"),
        _c("Manchester", "M1 M14 M20", "161"),
        _c("Leeds", "LS1 LS6", "113"),
        _c("Glasgow", "G1 G12", "141"),
        _c("Liverpool", "L1 L8", "151"),
        _c("Bristol", "BS1 BS8", "117"),
        _c("Sheffield", "S1 S10", "114"),
        _c("Edinburgh", "EH1 EH3", "131", "Edinburgh City"),
        _c("Cardiff", "CF10 CF24", "29", "Caerdydd"),
        _c("Nottingham", "NG1 NG7", "115", "Nottm"),
        _c("Newcastle upon Tyne", "NE1 NE6", "191", "Newcastle", "Newcastle-upon-Tyne"),
        _c("Brighton", "BN1 BN2", "1273", "Brighton and Hove", "Hove"),
        _c("Oxford", "OX1 OX4", "1865"),
        _c("Cambridge", "CB1 CB2", "1223"),
        _c("Belfast", "BT1 BT9", "28"),
    ),
    "CA": (
        _c("Toronto", "M5V M4C M6K", "416 647", "TO", "Toronto ON"),
        _c("Montreal", "H2X H3A", "514 438", "Montréal", "Mtl"),
        _c("Vancouver", "V6B V5K", "604 778", "Van"),
        _c("Calgary", "T2P T3A", "403 587"),
        _c("Ottawa", "K1A K2P", "613 343"),
        _c("Edmonton", "T5J", "780"),
        _c("Winnipeg", "R3C", "204"),
        _c("Quebec City", "G1R", "418", "Québec", "Quebec"),
        _c("Halifax", "B3H", "902"),
        _c("Mississauga", "L5B", "905", "Missisauga"),
    ),
}
COUNTRY_MIX = {"US": 0.6, "GB": 0.28, "CA": 0.12}
COUNTRY_NAMES = {
    "US": (("US", 0.3), ("USA", 0.25), ("United States", 0.25), ("us", 0.05), ("U.S.", 0.05),
           ("United States of America", 0.07), ("U.S.A.", 0.03)),
    "GB": (("GB", 0.25), ("UK", 0.3), ("United Kingdom", 0.3), ("England", 0.08),
           ("Great Britain", 0.04), ("gb", 0.03)),
    "CA": (("CA", 0.35), ("Canada", 0.5), ("CAN", 0.1), ("canada", 0.05)),
}  # fmt: skip
# The part of the UK people name instead of the country.
GB_NATIONS = {"Glasgow": "Scotland", "Edinburgh": "Scotland", "Cardiff": "Wales",
              "Belfast": "Northern Ireland"}  # fmt: skip

STREETS = (
    "Main", "Oak", "Maple", "Park", "Church", "High", "Station", "Cedar", "Pine", "Elm",
    "Washington", "Lake", "Hill", "Victoria", "King", "Queen", "Mill", "School", "Green",
    "Spring", "Chestnut", "Walnut", "Willow", "Birch", "Ridge", "Sunset", "Highland", "Jackson",
    "Lincoln", "Franklin", "Madison", "Grove", "York", "Albert", "Castle", "Manor", "Orchard",
    "Meadow", "Forest", "River", "Bridge", "Market", "North", "South", "Broad", "Union",
    "Cherry", "Riverside", "Windsor", "Kingsway", "Belmont", "Cambridge", "Grange", "Stanley",
)  # fmt: skip
# Street type: full form and the abbreviations people write for it.
STREET_TYPES = (
    ("Street", ("St", "St.", "Str")), ("Road", ("Rd", "Rd.")), ("Avenue", ("Ave", "Ave.", "Av")),
    ("Lane", ("Ln", "Ln.")), ("Drive", ("Dr", "Dr.")), ("Court", ("Ct", "Ct.")),
    ("Place", ("Pl", "Pl.")), ("Boulevard", ("Blvd", "Blvd.")), ("Close", ("Cl",)),
    ("Crescent", ("Cres", "Cresc")), ("Terrace", ("Ter", "Terr")), ("Way", ("Wy",)),
    ("Gardens", ("Gdns",)), ("Square", ("Sq", "Sq.")),
)  # fmt: skip
STREET_TYPE_MIX = {
    "US": (0.3, 0.08, 0.2, 0.08, 0.14, 0.06, 0.04, 0.06, 0.0, 0.0, 0.0, 0.04, 0.0, 0.0),
    "GB": (0.22, 0.25, 0.08, 0.1, 0.05, 0.03, 0.03, 0.0, 0.08, 0.05, 0.05, 0.03, 0.02, 0.01),
    "CA": (0.3, 0.12, 0.2, 0.06, 0.14, 0.06, 0.04, 0.04, 0.0, 0.02, 0.0, 0.02, 0.0, 0.0),
}  # fmt: skip
DIRECTIONS = (("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"))

# --------------------------------------------------------------------------------------------
# Work: companies (with the ways their names get written), roles, email domains
# --------------------------------------------------------------------------------------------

COMPANIES = (
    ("Northwind Traders", "Inc"), ("Contoso", "Ltd"), ("Fabrikam", "Inc"),
    ("Tailspin Toys", "LLC"), ("Wide World Importers", "Ltd"), ("Adventure Works", "Inc"),
    ("Litware", "Inc"), ("Proseware", "Inc"), ("Lamna Healthcare", "Ltd"),
    ("Fourth Coffee", "LLC"), ("Coho Winery", "Inc"), ("Alpine Ski House", "Ltd"),
    ("Blue Yonder Airlines", "Inc"), ("Humongous Insurance", "Corp"), ("Trey Research", "Inc"),
    ("Woodgrove Bank", "plc"), ("Relecloud", "Inc"), ("VanArsdel", "Ltd"),
    ("Datum Corporation", ""), ("Southridge Video", "LLC"), ("City Power & Light", "Co"),
    ("Consolidated Messenger", "Inc"), ("Nod Publishers", "Ltd"), ("Wingtip Toys", "Inc"),
    ("Graphic Design Institute", ""), ("Bellows College", ""), ("Margie's Travel", "LLC"),
    ("Greenleaf Logistics", "Ltd"), ("Harbor Analytics", "Inc"), ("Summit Dental", "LLC"),
    ("Riverbend Foods", "Inc"), ("Pioneer Software", "Ltd"), ("Keystone Builders", "Inc"),
    ("Bluebird Media", "Ltd"), ("Ironclad Security", "Corp"), ("Maple Leaf Outfitters", "Inc"),
    ("Crescent Pharmacy", "Ltd"), ("Atlas Freight", "LLC"), ("Silverline Consulting", "Ltd"),
    ("Oakridge Partners", "LLP"), ("Brightwater Energy", "plc"), ("Cobalt Robotics", "Inc"),
    ("Redwood Realty", "Inc"), ("Lighthouse Legal", "LLP"), ("Quantum Retail", "Ltd"),
    ("Evergreen Health", "Inc"), ("Horizon Telecom", "Corp"), ("Sterling Accountants", "LLP"),
    ("Copperfield Hotels", "Ltd"), ("Nimbus Cloud", "Inc"),
)  # fmt: skip
LEGAL_FORMS = {
    "Inc": ("Inc", "Inc.", "Incorporated", ", Inc."), "Ltd": ("Ltd", "Ltd.", "Limited"),
    "LLC": ("LLC", "L.L.C.", "llc"), "Corp": ("Corp", "Corp.", "Corporation"),
    "plc": ("plc", "PLC", "p.l.c."), "Co": ("Co", "Co.", "Company"), "LLP": ("LLP", "L.L.P."),
    "": ("",),
}  # fmt: skip
ROLES: dict[str, tuple[str, ...]] = {
    "Marketing Manager": ("Marketing Mgr", "Mktg Manager", "Manager, Marketing"),
    "Head of Marketing": ("Marketing Lead", "Head of Mktg"),
    "Data Analyst": ("Analyst", "Data analyst", "Sr. Data Analyst"),
    "Chief Executive Officer": ("CEO", "C.E.O.", "CEO & Founder"),
    "Founder": ("Co-Founder", "Co-founder", "Founder & CEO"),
    "Product Manager": ("PM", "Product Mgr", "Sr Product Manager"),
    "Software Engineer": ("Software Developer", "Developer", "SWE", "Engineer"),
    "Operations Manager": ("Ops Manager", "Operations Mgr", "Head of Operations"),
    "Sales Director": ("Director of Sales", "Dir. Sales", "Sales Dir"),
    "Account Executive": ("AE", "Account Exec", "Sales Executive"),
    "Customer Success Manager": ("CSM", "Customer Success", "Client Success Manager"),
    "Chief Technology Officer": ("CTO", "C.T.O."),
    "Vice President Sales": ("VP Sales", "VP of Sales", "V.P. Sales"),
    "Procurement Manager": ("Buyer", "Purchasing Manager", "Procurement"),
    "Office Manager": ("Office Mgr", "Office Administrator", "Admin"),
    "Finance Director": ("FD", "Director of Finance", "CFO"),
    "HR Manager": ("Human Resources Manager", "HR Mgr", "People Manager"),
    "Consultant": ("Senior Consultant", "Sr. Consultant", "Advisor"),
    "Nurse": ("RN", "Registered Nurse", "Staff Nurse"),
    "Teacher": ("Lecturer", "Instructor", "Tutor"),
}  # fmt: skip
PERSONAL_DOMAINS = {
    "US": (("gmail.com", 0.45), ("yahoo.com", 0.15), ("outlook.com", 0.1), ("hotmail.com", 0.1),
           ("icloud.com", 0.1), ("aol.com", 0.06), ("comcast.net", 0.04)),
    "GB": (("gmail.com", 0.4), ("hotmail.co.uk", 0.15), ("yahoo.co.uk", 0.1),
           ("btinternet.com", 0.1), ("outlook.com", 0.1), ("sky.com", 0.08),
           ("icloud.com", 0.07)),
    "CA": (("gmail.com", 0.45), ("hotmail.com", 0.15), ("yahoo.ca", 0.1), ("outlook.com", 0.1),
           ("rogers.com", 0.08), ("shaw.ca", 0.07), ("sympatico.ca", 0.05)),
}  # fmt: skip
# Misspelled domains that mail forms accept (one edit from the real one).
DOMAIN_TYPOS = {
    "gmail.com": ("gmial.com", "gmail.co", "gmai.com", "gmail.con", "gnail.com", "gmaill.com"),
    "yahoo.com": ("yaho.com", "yahooo.com", "yahoo.co"), "hotmail.com": ("hotmial.com",
    "hotmal.com", "hotmail.co"), "outlook.com": ("outlok.com", "outlook.co"),
    "icloud.com": ("iclod.com", "icoud.com"), "hotmail.co.uk": ("hotmail.co.k", "hotmial.co.uk"),
}  # fmt: skip

# --------------------------------------------------------------------------------------------
# Channels: where a record comes from sets which fields it has and how they are written
# --------------------------------------------------------------------------------------------

CHANNELS = ("web_form", "list_import", "sales_entry", "event_scan", "shop_account", "support")
CHANNEL_MIX = (0.34, 0.18, 0.15, 0.1, 0.13, 0.1)
# Chance that a field is filled in, per channel (if the person has the value at all).
PRESENCE: dict[str, tuple[float, ...]] = {
    #              web   import sales  event  shop   support
    "email":      (0.97, 0.85,  0.7,   0.92,  0.99,  0.8),
    "phone":      (0.35, 0.5,   0.85,  0.4,   0.75,  0.85),
    "dob":        (0.04, 0.08,  0.04,  0.0,   0.5,   0.2),
    "address":    (0.1,  0.3,   0.25,  0.05,  0.95,  0.35),
    "postcode":   (0.3,  0.35,  0.25,  0.05,  0.95,  0.35),
    "city":       (0.35, 0.6,   0.6,   0.3,   0.95,  0.45),
    "company":    (0.45, 0.85,  0.9,   0.95,  0.1,   0.3),
    "role":       (0.3,  0.7,   0.6,   0.9,   0.05,  0.1),
    "country":    (0.6,  0.8,   0.5,   0.6,   0.95,  0.7),
    "user_id":    (0.03, 0.0,   0.0,   0.0,   0.6,   0.15),
    "first_name": (0.97, 0.98,  0.97,  0.99,  0.99,  0.9),
    "last_name":  (0.9,  0.98,  0.95,  0.99,  0.99,  0.85),
}  # fmt: skip
# Share of records with the name in `full_name` only (first and last empty), and with both.
FULL_NAME_ONLY = (0.04, 0.4, 0.08, 0.3, 0.0, 0.15)
FULL_NAME_TOO = (0.05, 0.1, 0.2, 0.05, 0.3, 0.2)
WORK_EMAIL = (0.3, 0.75, 0.8, 0.9, 0.03, 0.25)  # when employed: work email rather than own
UPPER_CASE = (0.03, 0.3, 0.03, 0.1, 0.01, 0.04)  # whole record in capitals
LOWER_CASE = (0.12, 0.02, 0.03, 0.02, 0.05, 0.05)  # names typed in lower case
ASCII_ONLY = (0.3, 0.9, 0.5, 0.6, 0.1, 0.4)  # accents dropped

# Per record and field, once present (`_Record.noise` draws these).
TYPO_RATE = {
    "first_name": 0.03, "last_name": 0.035, "email": 0.015, "phone": 0.02, "address": 0.03,
    "postcode": 0.02, "city": 0.015, "company": 0.02,
    "dob": 0.02,
}  # fmt: skip
NICKNAME_RATE = 0.14  # of records of persons whose name has nicknames
SPELLING_RATE = 0.07  # of records of persons whose name has other spellings
SURNAME_SPELLING_RATE = 0.2
INITIAL_RATE = 0.02
MIDDLE_RATE = 0.06
SWAP_RATE = 0.015  # first and last name swapped
SPACE_RATE = 0.025  # per text field: leading, trailing or doubled space
EMAIL_CASE_RATE = 0.1
DOMAIN_TYPO_RATE = 0.03  # of records at a domain listed in DOMAIN_TYPOS
GMAIL_DOTS_RATE = 0.04
DOB_SWAP_RATE = 0.06  # day and month swapped (only where both are <= 12)
DOB_PLACEHOLDER_RATE = 0.01
DOB_PLACEHOLDERS = ("1900-01-01", "1970-01-01", "1901-01-01")
OLD_COMPANY_RATE = 0.15  # after a job change: company field not updated
DOUBLE_SUBMIT_RATE = 0.5  # records within three days of the previous one: a copy of it

# Persons and households.
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5)
HOUSEHOLD_MIX = (0.62, 0.25, 0.07, 0.045, 0.015)
TWIN_RATE = 0.3  # households with two relatives besides the head: the two are twins
JUNIOR_RATE = 0.2  # a son named after his father
SAME_SURNAME_RATE = 0.7  # partners sharing the surname
MARRIAGE_IN_WINDOW = 0.2  # of partners who took the surname: married during the window
SAME_BUILDING_RATE = 0.06  # households in a building another household lives in
MOVE_RATE = 0.12  # households that moved during the window (older records: old address)
LANDLINE_RATE = 0.45
FAMILY_EMAIL_RATE = 0.15
MOBILE_RATE = 0.88
PERSONAL_EMAIL_RATE = 0.95
NEW_EMAIL_RATE = 0.1  # a second personal address from some time on
EMPLOYED_RATE = 0.6
JOB_CHANGE_RATE = 0.3
ACCOUNT_RATE = 0.12
COMMON_NAME_RATE = 0.006  # persons given one of the COMMON_* full names outright
HEAVY_SHARE = 0.3  # of duplicated persons: min_records..max_records records
HEAVY_EXPONENT = 2.0  # power law of the heavy tail
YEARS = 9  # records spread over this many years before `end`

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")


def _neighbours() -> dict[str, str]:
    out: dict[str, str] = {}
    for row in _KEYBOARD_ROWS:
        for i, ch in enumerate(row):
            out[ch] = (row[i - 1] if i else "") + (row[i + 1] if i + 1 < len(row) else "")
    return out


_NEIGHBOURS = _neighbours()

# --------------------------------------------------------------------------------------------
# Small helpers on one random stream
# --------------------------------------------------------------------------------------------


def _zipf_weights(n: int, s: float = 1.0, q: float = 8.0) -> np.ndarray:
    """Zipf-Mandelbrot weights for ranks 1..n: a long tail with a not too sharp head."""
    w = 1.0 / (np.arange(1, n + 1) + q) ** s
    return w / w.sum()


_MALE_W = _zipf_weights(len(MALE_NAMES), 1.0, 4.0)
_FEMALE_W = _zipf_weights(len(FEMALE_NAMES), 1.0, 4.0)
_SURNAME_W = _zipf_weights(len(SURNAMES), 1.0, 8.0)


class _Rand:
    """Thin wrapper over one numpy Generator: draws in a fixed order, so output is
    deterministic for the seed."""

    def __init__(self, seed: int, key: int):
        seq = np.random.SeedSequence(seed, spawn_key=(key,))
        self.g = np.random.Generator(np.random.PCG64(seq))

    def p(self, prob: float) -> bool:
        return bool(self.g.random() < prob)

    def u(self) -> float:
        return float(self.g.random())

    def int(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]."""
        return int(self.g.integers(lo, hi + 1))

    def pick(self, values):
        return values[int(self.g.integers(0, len(values)))]

    def weighted(self, values, weights) -> object:
        cum = np.cumsum(weights)
        i = int(np.searchsorted(cum, self.g.random() * cum[-1], side="right"))
        return values[min(i, len(values) - 1)]

    def pairs(self, pairs):
        return self.weighted([v for v, _ in pairs], [w for _, w in pairs])


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _one_edit(r: _Rand, text: str, digits: bool = False) -> str:
    """`text` with one edit a typist makes: substitute a letter by its keyboard neighbour,
    delete one, insert one (a doubled letter or a neighbour), or transpose two neighbours.
    Rarely on the first character, which people check. Always different from `text`."""
    editable = str.isdigit if digits else str.isalpha
    positions = [i for i, ch in enumerate(text) if editable(ch)]
    if len(positions) < 2:
        return text + (str(r.int(0, 9)) if digits else "e")
    for _ in range(8):
        i = positions[0] if r.p(0.06) else r.pick(positions[1:])
        kind = r.weighted(("substitute", "delete", "insert", "transpose"), (0.35, 0.25, 0.2, 0.2))
        ch = text[i]
        if kind == "substitute":
            near = _NEIGHBOURS.get(ch.lower(), "")
            if not near:
                continue
            new = r.pick(near)
            new = new.upper() if ch.isupper() else new
            out = text[:i] + new + text[i + 1 :]
        elif kind == "delete":
            out = text[:i] + text[i + 1 :]
        elif kind == "insert":
            near = _NEIGHBOURS.get(ch.lower(), "")
            extra = ch.lower() if (r.p(0.6) or not near) else r.pick(near)
            out = text[: i + 1] + extra + text[i + 1 :]
        else:
            j = i + 1 if i + 1 < len(text) else i - 1
            a, b = sorted((i, j))
            out = text[:a] + text[b] + text[a] + text[b + 1 :]
        if out != text:
            return out
    return text + text[-1]


def _spaces(r: _Rand, text: str) -> str:
    """A stray leading or trailing space, or a doubled inner one."""
    k = r.int(0, 2)
    if k == 0:
        return " " + text
    if k == 1 or " " not in text.strip():
        return text + r.pick((" ", "  "))
    i = text.index(" ")
    return text[:i] + " " + text[i:]


def _title(text: str) -> str:
    # str.title() would write "O'brien" and "Mcdonald" anyway; real forms do the same.
    return text.title()


# --------------------------------------------------------------------------------------------
# The population
# --------------------------------------------------------------------------------------------


@dataclass
class _Address:
    number: str
    direction: str  # '' or a DIRECTIONS index as text
    street: str
    stype: int
    unit: str
    postcode: str
    country: str
    city: _City


@dataclass
class _Household:
    hid: str
    country: str
    city: _City
    address: _Address
    prev_address: _Address | None = None
    move_ts: int = 0
    landline: tuple[str, tuple[str, ...]] | None = None
    family_email: str | None = None
    surname: str = ""


@dataclass
class _Job:
    company: int
    role: str
    email: str
    since: int  # epoch seconds


@dataclass
class _Person:
    pid: str
    household: _Household
    relation: str
    sex: str
    first: str
    middle: str
    last: str
    dob: date
    maiden: str | None = None
    marriage_ts: int = 0
    suffix: str = ""
    twin_of: str | None = None
    mobile: tuple[str, tuple[str, ...]] | None = None
    emails: list[tuple[int, str]] = field(default_factory=list)  # (since, address)
    jobs: list[_Job] = field(default_factory=list)
    user_id: str | None = None
    n_records: int = 1


def _epoch(d: datetime) -> int:
    return int((d - datetime(1970, 1, 1)).total_seconds())


class _Population:
    def __init__(self, persons: int, r: _Rand, start: int, end: int):
        self.r, self.start, self.end = r, start, end
        self.used_phones: set[str] = set()
        self.used_emails: set[str] = set()
        self.buildings: dict[tuple[str, str], list[_Address]] = {}
        # Each company's main number, which its staff give as their phone.
        self.switchboards = [
            self._landline_for(r.pick(CITIES[r.pick(("US", "GB"))])) for _ in COMPANIES
        ]
        self.domains = [self._company_domain(name) for name, _ in COMPANIES]
        self.company_w = _zipf_weights(len(COMPANIES), 1.0, 3.0)
        self.people: list[_Person] = []
        self.n_persons = 0
        self.households: list[_Household] = []
        while len(self.people) < persons:
            self._household(persons - len(self.people))

    # -- identifiers ---------------------------------------------------------------------

    def _phone_digits(self, country: str, area: str, mobile: bool) -> tuple[str, ...]:
        """Groups of the national number without trunk prefix, unique across persons."""
        r = self.r
        while True:
            if country == "GB":
                if mobile:
                    groups: tuple[str, ...] = (
                        "7" + f"{r.int(100, 999)}",
                        f"{r.int(0, 999999):06d}",
                    )
                elif len(area) == 2:
                    groups = (area, f"{r.int(2000, 8999)}", f"{r.int(0, 9999):04d}")
                elif len(area) == 3:
                    groups = (area, f"{r.int(200, 899)}", f"{r.int(0, 9999):04d}")
                else:
                    groups = (area, f"{r.int(200000, 899999)}")
            else:
                exchange = r.int(200, 999)
                if exchange % 100 == 11 or exchange == 555:
                    continue
                groups = (area, f"{exchange}", f"{r.int(0, 9999):04d}")
            key = country + "".join(groups)
            if key not in self.used_phones:
                self.used_phones.add(key)
                return groups

    def _landline_for(self, city: _City) -> tuple[str, tuple[str, ...]]:
        country = next(c for c, cities in CITIES.items() if city in cities)
        return country, self._phone_digits(country, self.r.pick(city.area), mobile=False)

    def _mobile(self, country: str, city: _City) -> tuple[str, tuple[str, ...]]:
        # North American mobiles carry the area code of where the person got the number.
        return country, self._phone_digits(country, self.r.pick(city.area), mobile=True)

    @staticmethod
    def _company_domain(name: str) -> str:
        slug = "".join(ch for ch in _strip_accents(name).lower() if ch.isalnum())
        return slug + ".example"

    def _unique_email(self, local: str, domain: str) -> str:
        local = "".join(ch for ch in _strip_accents(local).lower() if ch.isalnum() or ch in "._-")
        candidate = f"{local}@{domain}"
        while candidate in self.used_emails:
            candidate = f"{local}{self.r.int(1, 99)}@{domain}"
        self.used_emails.add(candidate)
        return candidate

    def _personal_email(self, p: _Person, country: str) -> str:
        r = self.r
        f, last = p.first.lower(), p.last.replace(" ", "").replace("'", "").lower()
        if p.first in NICKNAMES and r.p(0.15):
            f = r.pick(NICKNAMES[p.first]).lower()
        yy = f"{p.dob.year % 100:02d}"
        local = r.weighted(
            (f"{f}.{last}", f"{f}{last}", f"{f[0]}{last}", f"{f}_{last}", f"{f}.{last}{yy}",
             f"{f}{yy}", f"{last}.{f}", f"{f}{last}{p.dob.year}", f"{f[0]}.{last}"),
            (0.25, 0.15, 0.12, 0.05, 0.1, 0.08, 0.05, 0.1, 0.1),
        )  # fmt: skip
        return self._unique_email(local, r.pairs(PERSONAL_DOMAINS[country]))

    def _work_email(self, p: _Person, company: int) -> str:
        f, last = p.first.lower(), p.last.replace(" ", "").replace("'", "").lower()
        local = self.r.weighted((f"{f}.{last}", f"{f[0]}{last}", f"{f}", f"{f[0]}.{last}"),
                                (0.55, 0.25, 0.1, 0.1))  # fmt: skip
        return self._unique_email(local, self.domains[company])

    # -- places --------------------------------------------------------------------------

    def _postcode(self, country: str, city: _City) -> str:
        r = self.r
        code = r.pick(city.codes)
        if country == "US":
            return f"{code}{r.int(0, 99):02d}"
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        if country == "GB":
            return f"{code} {r.int(1, 9)}{r.pick(letters)}{r.pick(letters)}"
        return f"{code} {r.int(0, 9)}{r.pick(letters)}{r.int(0, 9)}"

    def _address(self, country: str, city: _City) -> _Address:
        r = self.r
        key = (country, city.name)
        building = self.buildings.setdefault(key, [])
        if building and r.p(SAME_BUILDING_RATE):
            # Another flat in a building where a household already lives.
            b = r.pick(building)
            unit = f"{r.int(1, 12)}{r.pick('ABCD')}" if r.p(0.5) else str(r.int(1, 40))
            return _Address(b.number, b.direction, b.street, b.stype, unit, b.postcode,
                            country, city)  # fmt: skip
        number = str(min(int(r.g.pareto(1.1) * 12) + 1, 9999))
        direction = str(r.int(0, 3)) if country == "US" and r.p(0.15) else ""
        street = STREETS[int(r.weighted(range(len(STREETS)), _zipf_weights(len(STREETS), 1, 5)))]
        stype = int(r.weighted(range(len(STREET_TYPES)), STREET_TYPE_MIX[country]))
        unit = ""
        if r.p(0.2):
            unit = f"{r.int(1, 12)}{r.pick('ABCD')}" if r.p(0.4) else str(r.int(1, 40))
        address = _Address(number, direction, street, stype, unit,
                           self._postcode(country, city), country, city)  # fmt: skip
        building.append(address)
        return address

    def _city(self, country: str) -> _City:
        cities = CITIES[country]
        return cities[int(self.r.weighted(range(len(cities)), _zipf_weights(len(cities), 1, 1)))]

    # -- persons -------------------------------------------------------------------------

    def _first_name(self, sex: str) -> str:
        names, w = (MALE_NAMES, _MALE_W) if sex == "M" else (FEMALE_NAMES, _FEMALE_W)
        return names[int(self.r.weighted(range(len(names)), w))]

    def _surname(self) -> str:
        return SURNAMES[int(self.r.weighted(range(len(SURNAMES)), _SURNAME_W))]

    def _dob(self, lo_year: int, hi_year: int) -> date:
        hi_year = min(hi_year, 2006)
        lo_year = min(lo_year, hi_year)
        return date(self.r.int(lo_year, hi_year), 1, 1) + timedelta(days=self.r.int(0, 364))

    def _household(self, room: int) -> None:
        r = self.r
        size = min(int(r.weighted(HOUSEHOLD_SIZES, HOUSEHOLD_MIX)), room)
        country = str(r.weighted(tuple(COUNTRY_MIX), tuple(COUNTRY_MIX.values())))
        city = self._city(country)
        hh = _Household(f"H{len(self.households) + 1:07d}", country, city,
                        self._address(country, city))  # fmt: skip
        if r.p(MOVE_RATE):
            old_city = city if r.p(0.6) else self._city(country)
            hh.prev_address = self._address(country, old_city)
            hh.move_ts = r.int(self.start, self.end)
        if r.p(LANDLINE_RATE):
            hh.landline = self._landline_for(city)
        self.households.append(hh)
        head_sex = "M" if r.p(0.5) else "F"
        head = self._person(hh, "head", head_sex, self._surname(), self._dob(1940, 2001))
        hh.surname = head.last
        members = [head]
        rest = size - 1
        if rest and r.p(0.8):  # a partner
            sex = ("F" if head_sex == "M" else "M") if r.p(0.92) else head_sex
            same = r.p(SAME_SURNAME_RATE)
            dob = head.dob + timedelta(days=int(r.g.normal(0, 4 * 365)))
            partner = self._person(hh, "partner", sex, head.last if same else self._surname(),
                                   self._dob(dob.year, dob.year))  # fmt: skip
            if same and sex == "F" and r.p(MARRIAGE_IN_WINDOW):
                partner.maiden = self._surname()
                partner.marriage_ts = r.int(self.start, self.end)
            members.append(partner)
            rest -= 1
        relatives: list[_Person] = []
        for _ in range(rest):
            if head.dob.year <= 1980:  # grown-up children
                y = head.dob.year + r.int(20, 36)
                rel = self._person(hh, "child", "M" if r.p(0.5) else "F", head.last,
                                   self._dob(y, y))  # fmt: skip
            else:  # siblings or cousins sharing the flat
                y = head.dob.year + r.int(-8, 8)
                rel = self._person(hh, "relative", "M" if r.p(0.5) else "F", head.last,
                                   self._dob(y, y))  # fmt: skip
            relatives.append(rel)
        if len(relatives) >= 2 and r.p(TWIN_RATE):
            a, b = relatives[0], relatives[1]
            b.dob = a.dob
            if r.p(0.5):
                b.sex = a.sex
            while b.first == a.first:
                b.first = self._first_name(b.sex)
            b.twin_of, a.twin_of = a.pid, b.pid
        if head_sex == "M" and r.p(JUNIOR_RATE):
            sons = [p for p in relatives if p.sex == "M" and p.relation == "child"]
            if sons:
                sons[0].first, sons[0].suffix = head.first, "Jr."
                head.suffix = "Sr." if r.p(0.3) else ""
        members += relatives
        if size >= 2 and r.p(FAMILY_EMAIL_RATE):
            surname = hh.surname.replace(" ", "").replace("'", "").lower()
            local = r.pick((f"the{surname}s", f"{surname}family", f"{surname}.home"))
            hh.family_email = self._unique_email(local, r.pairs(PERSONAL_DOMAINS[country]))
        for p in members:
            self._identifiers(p, country, city)
        self.people += members

    def _person(self, hh: _Household, relation: str, sex: str, last: str, dob: date) -> _Person:
        r = self.r
        first = self._first_name(sex)
        if r.p(COMMON_NAME_RATE):
            first, last = r.pick(COMMON_MALE if sex == "M" else COMMON_FEMALE)
        middle = r.pick(MIDDLE_INITIALS) if r.p(0.35) else ""
        self.n_persons += 1
        return _Person(f"P{self.n_persons:07d}", hh, relation, sex, first, middle, last, dob)

    def _identifiers(self, p: _Person, country: str, city: _City) -> None:
        r = self.r
        if r.p(MOBILE_RATE):
            p.mobile = self._mobile(country, city)
        if r.p(PERSONAL_EMAIL_RATE):
            p.emails.append((0, self._personal_email(p, country)))
            if r.p(NEW_EMAIL_RATE):
                p.emails.append((r.int(self.start, self.end), self._personal_email(p, country)))
        if r.p(EMPLOYED_RATE) and p.dob.year < 2004:
            c = int(r.weighted(range(len(COMPANIES)), self.company_w))
            p.jobs.append(_Job(c, r.pick(tuple(ROLES)), self._work_email(p, c), 0))
            if r.p(JOB_CHANGE_RATE):
                c2 = int(r.weighted(range(len(COMPANIES)), self.company_w))
                while c2 == c:
                    c2 = int(r.weighted(range(len(COMPANIES)), self.company_w))
                since = r.int(self.start, self.end)
                p.jobs.append(_Job(c2, r.pick(tuple(ROLES)), self._work_email(p, c2), since))
        if r.p(ACCOUNT_RATE):
            p.user_id = f"U{r.int(0, 99_999_999):08d}"


# --------------------------------------------------------------------------------------------
# Records: one person as one channel writes them down at one time
# --------------------------------------------------------------------------------------------


def _records_per_person(
    r: _Rand, share_duplicated: float, min_records: int, max_records: int
) -> int:
    if not r.p(share_duplicated):
        return 1
    light = list(range(2, min_records))
    if light and not r.p(HEAVY_SHARE):
        return int(r.weighted(light, [k**-2.0 for k in light]))
    heavy = list(range(min_records, max_records + 1))
    return int(r.weighted(heavy, [k**-HEAVY_EXPONENT for k in heavy]))


def _record_times(r: _Rand, k: int, start: int, end: int) -> list[int]:
    """Times of a person's records: re-entries in bursts (within three days) or months to
    years apart; the first contact skewed to recent years (CRMs grow), and early enough that
    all of them fit before `end` (a long history starts long ago)."""
    gaps = [
        r.int(60, 3 * 86400) if r.p(0.3) else int(r.g.exponential(240 * 86400))
        for _ in range(k - 1)
    ]
    room = end - start
    span = sum(gaps)
    if span > 0.9 * room:
        gaps = [int(g * 0.9 * room / span) for g in gaps]
        span = sum(gaps)
    t = start + int((room - span) * r.g.beta(1.6, 1.0))
    out = [t]
    for g in gaps:
        t += g
        out.append(t)
    return out


def _format_phone(r: _Rand, country: str, groups: tuple[str, ...], work: bool) -> str:
    if country == "GB":
        national = "0" + " ".join(groups)
        style = r.weighted(range(7), (0.4, 0.15, 0.15, 0.1, 0.08, 0.07, 0.05))
        text = (
            national,
            national.replace(" ", ""),
            "+44 " + " ".join(groups),
            "+44" + "".join(groups),
            "+44 (0)" + " ".join(groups),
            "".join(groups),  # the leading zero lost in a spreadsheet
            "0044 " + " ".join(groups),
        )[int(style)]
    else:
        a, e, ln = groups
        style = r.weighted(range(9), (0.25, 0.2, 0.08, 0.12, 0.1, 0.08, 0.05, 0.07, 0.05))
        text = (
            f"({a}) {e}-{ln}", f"{a}-{e}-{ln}", f"{a}.{e}.{ln}", f"{a}{e}{ln}",
            f"+1 {a}-{e}-{ln}", f"+1{a}{e}{ln}", f"1-{a}-{e}-{ln}", f"{a} {e} {ln}",
            f"+1 ({a}) {e}-{ln}",
        )[int(style)]  # fmt: skip
    if work and r.p(0.3):
        text += r.pick((" x", " ext. ", " ext ", "#")) + str(r.int(100, 4999))
    return text


def _format_address(r: _Rand, a: _Address, upper: bool) -> tuple[str, list[str]]:
    tags: list[str] = []
    full, abbrevs = STREET_TYPES[a.stype]
    stype = full
    if r.p(0.45):
        stype = r.pick(abbrevs)
        tags.append("address:abbreviated")
    direction = ""
    if a.direction:
        long, short = DIRECTIONS[int(a.direction)]
        direction = (long if r.p(0.4) else short + r.pick(("", "."))) + " "
    street = a.street
    if r.p(TYPO_RATE["address"]):
        street = _one_edit(r, street)
        tags.append("address:typo")
    text = f"{a.number} {direction}{street} {stype}"
    if a.unit and not r.p(0.25):  # the flat number is often left out
        if a.country == "GB":
            unit = r.pick(("Flat ", "Flat ", "Apartment "))
            text = f"{unit}{a.unit}, {text}" if r.p(0.7) else f"{text}, {unit}{a.unit}"
        else:
            unit = r.pick(("Apt ", "Apt. ", "#", "Unit ", "Suite "))
            text = f"{text} {unit}{a.unit}" if r.p(0.6) else f"{text}, {unit}{a.unit}"
    if upper:
        text = text.upper()
    elif r.p(0.04):
        text = text.lower()
    return text, tags


def _format_postcode(r: _Rand, code: str, country: str) -> tuple[str, list[str]]:
    tags: list[str] = []
    if country == "US":
        if r.p(0.08):
            code = f"{code}-{r.int(0, 9999):04d}"
        if code.startswith("0") and r.p(0.3):
            code = code.lstrip("0")  # read as a number by a spreadsheet
            tags.append("postcode:leading_zero_lost")
    else:
        if r.p(0.25):
            code = code.replace(" ", "")
        if r.p(0.15):
            code = code.lower()
    if r.p(TYPO_RATE["postcode"]):
        code = _one_edit(r, code, digits=True)
        tags.append("postcode:typo")
    return code, tags


def _format_dob(r: _Rand, dob: date) -> tuple[str, list[str]]:
    if r.p(DOB_PLACEHOLDER_RATE):
        return r.pick(DOB_PLACEHOLDERS), ["dob:placeholder"]
    y, m, d = dob.year, dob.month, dob.day
    tags: list[str] = []
    if d <= 12 and d != m and r.p(DOB_SWAP_RATE):
        m, d = d, m
        tags.append("dob:day_month_swapped")
    elif r.p(TYPO_RATE["dob"]):
        kind = r.int(0, 2)
        if kind == 0 and y % 10 != (y // 10) % 10:
            y = y // 100 * 100 + (y % 10) * 10 + (y // 10) % 10  # 1985 -> 1958
        elif kind == 1:
            y += r.pick((-1, 1))
        else:
            shifted = date(y, m, d) + timedelta(days=r.pick((-1, 1)))
            y, m, d = shifted.year, shifted.month, shifted.day
        tags.append("dob:typo")
    return f"{y:04d}-{m:02d}-{d:02d}", tags


def _company_name(r: _Rand, company: int) -> tuple[str, list[str]]:
    name, form = COMPANIES[company]
    tags: list[str] = []
    if form and r.p(0.3):
        form = r.pick(LEGAL_FORMS[form])
        tags.append("company:variant")
    elif form and r.p(0.35):
        form = ""
        tags.append("company:variant")
    text = name if not form else (f"{name}{form}" if form.startswith(",") else f"{name} {form}")
    if r.p(0.04):
        text = "The " + text if not text.startswith("The ") else text
    if r.p(TYPO_RATE["company"]):
        text = _one_edit(r, text)
        tags.append("company:typo")
    return text, tags


def _case(text: str, style: str) -> str:
    return text.upper() if style == "upper" else text.lower() if style == "lower" else text


def _record(r: _Rand, pop: _Population, p: _Person, t: int, ch: int) -> tuple[dict, list[str]]:
    """One contact record of `p`, as channel `ch` writes it at time `t`, and what was done to
    it (`defects`, for the truth file)."""
    tags: list[str] = []
    hh = p.household
    present = {k: r.p(v[ch]) for k, v in PRESENCE.items()}
    case = "upper" if r.p(UPPER_CASE[ch]) else ("lower" if r.p(LOWER_CASE[ch]) else "")
    ascii_only = r.p(ASCII_ONLY[ch])

    # Names at this time: maiden name before the marriage, variants, typos.
    last = p.maiden if p.maiden and t < p.marriage_ts else p.last
    if last != p.last:
        tags.append("last_name:maiden")
    first = p.first
    if first in NICKNAMES and r.p(NICKNAME_RATE * (1.5 if ch in (2, 3) else 1.0)):
        first = r.pick(NICKNAMES[first])
        tags.append("first_name:nickname")
    elif first in SPELLINGS and r.p(SPELLING_RATE):
        first = r.pick(SPELLINGS[first])
        tags.append("first_name:spelling")
    elif r.p(INITIAL_RATE):
        first = first[0] + r.pick(("", "."))
        tags.append("first_name:initial")
    if last in SURNAME_SPELLINGS and r.p(SURNAME_SPELLING_RATE):
        last = r.pick(SURNAME_SPELLINGS[last])
        tags.append("last_name:spelling")
    if len(first) > 2 and r.p(TYPO_RATE["first_name"]):
        first = _one_edit(r, first)
        tags.append("first_name:typo")
    if r.p(TYPO_RATE["last_name"]):
        last = _one_edit(r, last)
        tags.append("last_name:typo")
    if p.suffix == "Jr." and r.p(0.35):
        last = f"{last} Jr." if r.p(0.7) else f"{last} Jr"
        tags.append("last_name:suffix")
    if ascii_only:
        first, last = _strip_accents(first), _strip_accents(last)
    first_f = f"{first} {p.middle}." if p.middle and r.p(MIDDLE_RATE) else first
    if first_f != first:
        tags.append("first_name:middle_initial")

    row: dict[str, str | None] = dict.fromkeys(COLUMNS)
    if r.p(FULL_NAME_ONLY[ch]):
        tags.append("name:full_name_only")
        style = r.weighted(range(5), (0.72, 0.1, 0.08, 0.05, 0.05))
        middle = f" {p.middle}." if p.middle else ""
        full = (
            f"{first} {last}", f"{first}{middle} {last}", f"{last}, {first}",
            f"{r.pick(TITLES)} {first} {last}", f"{last} {first}",
        )[int(style)]  # fmt: skip
        if style in (2, 4):
            tags.append("name:last_first_order")
        row["full_name"] = _case(full, case)
    else:
        fn, ln = (first_f if present["first_name"] else None,
                  last if present["last_name"] else None)  # fmt: skip
        if fn is None:
            tags.append("first_name:missing")
        if ln is None:
            tags.append("last_name:missing")
        if fn and ln and r.p(SWAP_RATE):
            fn, ln = ln, fn
            tags.append("name:swapped")
        row["first_name"] = _case(fn, case) if fn else None
        row["last_name"] = _case(ln, case) if ln else None
        if r.p(FULL_NAME_TOO[ch]):
            row["full_name"] = _case(f"{first} {last}", case)

    # Work at this time; a CRM often keeps the old company after a job change.
    job = next((j for j in reversed(p.jobs) if j.since <= t), None)
    company_job = job
    if job is not None and job is not p.jobs[0] and r.p(OLD_COMPANY_RATE):
        company_job = p.jobs[0]
        tags.append("company:stale")
    if job is not None and len(p.jobs) > 1 and job is p.jobs[-1]:
        tags.append("job:changed")
    if company_job is not None and present["company"]:
        text, more = _company_name(r, company_job.company)
        row["company"], tags = (text.upper() if case == "upper" else text), tags + more
        if present["role"]:
            role = company_job.role
            if r.p(0.3):
                role = r.pick(ROLES[role])
                tags.append("role:variant")
            row["role"] = _case(role, case)

    # Email: work or own (the address in use at this time), sometimes the family's.
    own = next((e for since, e in reversed(p.emails) if since <= t), None)
    if len(p.emails) > 1 and own == p.emails[-1][1]:
        tags.append("email:new_personal")
    email = None
    if job is not None and r.p(WORK_EMAIL[ch]):
        email = job.email
        tags.append("email:work")
    elif hh.family_email and r.p(0.35):
        email = hh.family_email
        tags.append("email:family")
    else:
        email = own
    if email and present["email"]:
        local, domain = email.split("@")
        if r.p(TYPO_RATE["email"]):
            local = _one_edit(r, local)
            tags.append("email:typo")
        if domain in DOMAIN_TYPOS and r.p(DOMAIN_TYPO_RATE):
            domain = r.pick(DOMAIN_TYPOS[domain])
            tags.append("email:domain_typo")
        if domain == "gmail.com" and "." in local and r.p(GMAIL_DOTS_RATE):
            local = local.replace(".", "")
            tags.append("email:gmail_dots")
        email = f"{local}@{domain}"
        if r.p(EMAIL_CASE_RATE) or case == "upper":
            email = email.upper() if case == "upper" or r.p(0.3) else _title(email)
            tags.append("email:case")
        row["email"] = email
    else:
        tags.append("email:missing")

    # Phone: own mobile, the household's landline or the company switchboard.
    options: list[tuple[str, tuple[str, tuple[str, ...]]]] = []
    if p.mobile:
        options.append(("mobile", p.mobile))
    if hh.landline and (not p.mobile or r.p(0.35)):
        options.append(("landline", hh.landline))
    if job is not None and ch in (1, 2, 3) and r.p(0.35):
        options.append(("switchboard", pop.switchboards[job.company]))
    if options and present["phone"]:
        kind, (country, groups) = options[-1] if r.p(0.5) else options[0]
        if kind != "mobile":
            tags.append(f"phone:{kind}")
        phone = _format_phone(r, country, groups, work=kind == "switchboard")
        if r.p(TYPO_RATE["phone"]):
            phone = _one_edit(r, phone, digits=True)
            tags.append("phone:typo")
        row["phone"] = phone
    else:
        tags.append("phone:missing")

    # Address at this time (the old one before a move).
    address = hh.prev_address if hh.prev_address and t < hh.move_ts else hh.address
    if address is hh.prev_address:
        tags.append("address:old")
    if present["address"]:
        row["address"], more = _format_address(r, address, case == "upper")
        tags += more
    if present["postcode"]:
        row["postcode"], more = _format_postcode(r, address.postcode, address.country)
        tags += more
    if present["city"]:
        city = address.city.name
        if address.city.aliases and r.p(0.15):
            city = r.pick(address.city.aliases)
            tags.append("city:alias")
        if ascii_only:
            city = _strip_accents(city)
        if r.p(TYPO_RATE["city"]):
            city = _one_edit(r, city)
            tags.append("city:typo")
        row["city"] = _case(city, case)
    if present["country"]:
        country = r.pairs(COUNTRY_NAMES[address.country])
        if address.city.name in GB_NATIONS and r.p(0.3):
            country = GB_NATIONS[address.city.name]
        row["country"] = country

    if present["dob"]:
        row["date_of_birth"], more = _format_dob(r, p.dob)
        tags += more
    else:
        tags.append("dob:missing")
    if p.user_id and present["user_id"]:
        row["user_id"] = p.user_id

    for col in ("first_name", "last_name", "full_name", "company", "city", "address", "email"):
        if row[col] and r.p(SPACE_RATE):
            row[col] = _spaces(r, row[col])
            tags.append("spaces")
    if case:
        tags.append(f"case:{case}")
    if ascii_only and any(_strip_accents(v) != v for v in (p.first, p.last, p.household.city.name)):
        tags.append("accents_dropped")
    return row, tags


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _ts(seconds: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    # Through pyarrow with fixed settings so the bytes depend only on the data.
    pq.write_table(frame.to_arrow(), path, compression="zstd")


def _pairs(counts) -> int:
    return int(sum(int(n) * (int(n) - 1) // 2 for n in counts))


SOURCES_YAML = (
    "# Written by seg_platform.synthetic.duplicate_crm: a duplicate-heavy CRM export.\n"
    "version: 1\n"
    "sources:\n"
    f"  {SOURCE}:\n"
    f"    path: {SOURCE}/contacts.csv\n"
)


def generate_duplicate_crm(
    persons: int,
    seed: int,
    out: Path,
    *,
    min_records: int = 4,
    max_records: int = 20,
    share_duplicated: float = 0.4,
    end: str = "2025-12-31",
) -> Path:
    """Write a duplicate-heavy CRM export and its ground truth under `out`.

    Args:
        persons: distinct real persons (each has at least one record).
        seed: the same arguments give byte-identical files.
        out: folder; `out/landing/` and `out/truth/` are replaced, anything else is left.
        min_records, max_records: range of the heavy tail: of the persons with more than one
            record, 30% have `min_records`..`max_records` (power law, exponent 2), the others
            2..`min_records - 1`.
        share_duplicated: share of persons with more than one record.
        end: last day (YYYY-MM-DD) of the records, which go back nine years.

    Writes:
        `landing/crm_contacts/contacts.csv` in the crm_contacts contract's columns and
        `landing/sources.yaml` declaring that source only; `truth/crm_persons.parquet`
        (crm_id, person_id, household_id, channel, defects: one row per record),
        `truth/crm_people.parquet` (one row per person: the clean values, household,
        relation, twin), and `truth/crm_summary.json` (records per person, defect rates,
        hard-negative counts).

    Returns:
        The path of the written sources.yaml.

    Example:
        >>> sources = generate_duplicate_crm(1000, seed=7, out=tmp)  # doctest: +SKIP
        >>> load_sources_config(sources).sources["crm_contacts"].files()  # doctest: +SKIP
    """
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    if not 2 <= min_records <= max_records:
        raise ValueError("need 2 <= min_records <= max_records")
    if not 0 <= share_duplicated <= 1:
        raise ValueError("share_duplicated must be in [0, 1]")
    out = Path(out)
    stop = _epoch(datetime.fromisoformat(end) + timedelta(days=1)) - 1
    start = stop - int(YEARS * 365.25 * 86400)

    pop = _Population(persons, _Rand(seed, 0), start, stop)
    r = _Rand(seed, 1)
    rows: list[dict] = []
    truth: list[tuple] = []
    for p in pop.people:
        p.n_records = _records_per_person(r, share_duplicated, min_records, max_records)
        times = _record_times(r, p.n_records, start, stop)
        prev: dict | None = None
        for i, t in enumerate(times):
            ch = int(r.weighted(range(len(CHANNELS)), CHANNEL_MIX))
            if prev is not None and t - times[i - 1] < 3 * 86400 and r.p(DOUBLE_SUBMIT_RATE):
                # The same form sent again (or an import of the same list): a copy.
                row, tags = dict(prev[0]), [*prev[1], "double_submit"]
                ch = prev[2]
            else:
                row, tags = _record(r, pop, p, t, ch)
            prev = (row, [g for g in tags if g != "double_submit"], ch)
            if ch == 1:  # imports land in a nightly batch
                t = t // 86400 * 86400 + 2 * 3600
            row = dict(row)
            row["created_at"] = _ts(t)
            if r.p(0.7):
                later = t + int(r.g.exponential(200 * 86400))
                row["updated_at"] = _ts(later if later <= stop else r.int(t, stop))
            rows.append(row)
            truth.append((p.pid, p.household.hid, CHANNELS[ch], sorted(set(tags))))

    # CRM ids that say nothing about creation order or person.
    ids = r.g.choice(90_000_000, size=len(rows), replace=False) + 10_000_000
    for row, i in zip(rows, ids, strict=True):
        row["crm_id"] = f"C{int(i)}"
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["created_at"], rows[i]["crm_id"]))

    landing, truth_dir = out / "landing", out / "truth"
    for folder in (landing, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    (landing / SOURCE).mkdir()
    contacts = pl.DataFrame([rows[i] for i in order], schema=dict.fromkeys(COLUMNS, pl.String))
    contacts.write_csv(landing / SOURCE / "contacts.csv")
    sources = landing / "sources.yaml"
    sources.write_text(SOURCES_YAML)

    records = pl.DataFrame(
        {
            "crm_id": contacts["crm_id"],
            "person_id": [truth[i][0] for i in order],
            "household_id": [truth[i][1] for i in order],
            "channel": [truth[i][2] for i in order],
            "defects": pl.Series([truth[i][3] for i in order], dtype=pl.List(pl.String)),
        }
    )
    _write_parquet(records, truth_dir / "crm_persons.parquet")
    people = _people_frame(pop)
    _write_parquet(people, truth_dir / "crm_people.parquet")
    summary = _summary(persons, seed, min_records, max_records, share_duplicated, records, people)
    (truth_dir / "crm_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return sources


def _people_frame(pop: _Population) -> pl.DataFrame:
    ps = pop.people
    return pl.DataFrame(
        {
            "person_id": [p.pid for p in ps],
            "household_id": [p.household.hid for p in ps],
            "relation": [p.relation for p in ps],
            "sex": [p.sex for p in ps],
            "first_name": [p.first for p in ps],
            "middle_initial": [p.middle or None for p in ps],
            "last_name": [p.last for p in ps],
            "maiden_name": [p.maiden for p in ps],
            "suffix": [p.suffix or None for p in ps],
            "date_of_birth": [p.dob.isoformat() for p in ps],
            "country": [p.household.country for p in ps],
            "city": [p.household.city.name for p in ps],
            "moved": [p.household.prev_address is not None for p in ps],
            "twin_of": [p.twin_of for p in ps],
            "company": [COMPANIES[p.jobs[-1].company][0] if p.jobs else None for p in ps],
            "changed_job": [len(p.jobs) > 1 for p in ps],
            "has_landline": [p.household.landline is not None for p in ps],
            "has_family_email": [p.household.family_email is not None for p in ps],
            "records": [p.n_records for p in ps],
        },
        schema_overrides={"maiden_name": pl.String, "twin_of": pl.String},
    )


def _summary(
    persons: int,
    seed: int,
    min_records: int,
    max_records: int,
    share_duplicated: float,
    records: pl.DataFrame,
    people: pl.DataFrame,
) -> dict:
    n = records.height
    per_person = Counter(people["records"].to_list())
    # Records carrying each defect (the lists hold each tag once).
    kinds = Counter(tag for tags in records["defects"].to_list() for tag in tags)
    same = people.group_by("last_name", "city").len()["len"]
    namesakes = people.group_by("first_name", "last_name").len()["len"]
    households = people.group_by("household_id").len()["len"]
    landline = people.filter("has_landline").group_by("household_id").len()["len"]
    twins = people.filter(pl.col("twin_of").is_not_null()).height // 2
    colleagues = people.filter(pl.col("company").is_not_null()).group_by("company").len()["len"]
    return {
        "persons": persons,
        "seed": seed,
        "min_records": min_records,
        "max_records": max_records,
        "share_duplicated": share_duplicated,
        "records": n,
        "true_pairs": _pairs(people["records"].to_list()),
        "records_per_person": {str(k): per_person[k] for k in sorted(per_person)},
        "defect_share": {k: round(kinds[k] / n, 4) for k in sorted(kinds)},
        "hard_negative_pairs": {
            "same_last_name_and_city": _pairs(same),
            "same_first_and_last_name": _pairs(namesakes),
            "same_household": _pairs(households),
            "same_household_landline": _pairs(landline),
            "twins": twins,
            "same_company": _pairs(colleagues),
        },
    }


# --------------------------------------------------------------------------------------------
# Measuring a clustering against the truth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairwiseScores:
    """Pairwise precision, recall and F1 of a clustering of CRM records against the truth."""

    precision: float
    recall: float
    f1: float
    true_pairs: int  # record pairs of one person
    predicted_pairs: int  # record pairs put in one cluster
    correct_pairs: int  # both


def _truth_frame(truth_path: Path | str) -> pl.DataFrame:
    path = Path(truth_path)
    if path.is_dir():  # `out`, or `out/truth`
        path = (
            path / "crm_persons.parquet"
            if (path / "crm_persons.parquet").exists()
            else (path / "truth" / "crm_persons.parquet")
        )
    return pl.read_parquet(path, columns=["crm_id", "person_id"])


def crm_truth_pairs(truth_path: Path | str) -> int:
    """Number of record pairs that belong to one person (the denominator of pairwise recall).

    Args:
        truth_path: `truth/crm_persons.parquet`, its folder, or the generator's `out`.

    Example:
        >>> crm_truth_pairs(out / "truth" / "crm_persons.parquet")  # doctest: +SKIP
        11873
    """
    truth = _truth_frame(truth_path)
    return _pairs(truth.group_by("person_id").len()["len"].to_list())


def pairwise_scores(
    clusters: Mapping[str, object] | pl.DataFrame, truth_path: Path | str
) -> PairwiseScores:
    """Pairwise precision/recall/F1 of `clusters` (crm_id -> cluster label) against the truth.

    Counted from the contingency table of cluster and person, never by listing pairs, so it
    is fast for any size. A crm_id missing from `clusters` counts as a cluster of its own; a
    crm_id that is not in the truth is an error. A DataFrame needs the columns `crm_id` and
    `cluster`. Precision is 1.0 when no pair is predicted, recall 1.0 when there is no true
    pair.

    Example:
        >>> pairwise_scores({"C1": "a", "C2": "a", "C3": "b"}, truth)  # doctest: +SKIP
        PairwiseScores(precision=1.0, recall=0.5, f1=0.667, ...)
    """
    truth = _truth_frame(truth_path)
    if isinstance(clusters, pl.DataFrame):
        predicted = clusters.select(
            pl.col("crm_id").cast(pl.String), pl.col("cluster").cast(pl.String)
        )
    else:
        predicted = pl.DataFrame(
            {"crm_id": list(clusters), "cluster": [str(v) for v in clusters.values()]},
            schema={"crm_id": pl.String, "cluster": pl.String},
        )
    if predicted["crm_id"].is_duplicated().any():
        raise ValueError("a crm_id appears twice in the clustering")
    unknown = predicted.join(truth, on="crm_id", how="anti")
    if unknown.height:
        raise ValueError(f"{unknown.height} crm_ids are not in the truth, e.g. {unknown[0, 0]}")
    joined = truth.join(predicted, on="crm_id", how="left").with_columns(
        pl.col("cluster").fill_null(pl.lit("__single__:") + pl.col("crm_id"))
    )
    true_pairs = _pairs(joined.group_by("person_id").len()["len"].to_list())
    predicted_pairs = _pairs(joined.group_by("cluster").len()["len"].to_list())
    correct = _pairs(joined.group_by("cluster", "person_id").len()["len"].to_list())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(precision, recall, f1, true_pairs, predicted_pairs, correct)


__all__ = [
    "PairwiseScores",
    "crm_truth_pairs",
    "generate_duplicate_crm",
    "pairwise_scores",
]
