"""Names at real population frequencies (`names`), nicknames, spellings, titles; the source
and its columns."""

from __future__ import annotations

from seg_platform.synthetic.duplicate_crm.names import name_tables

SOURCE = "crm_contacts"
COLUMNS = (
    "crm_id", "user_id", "email", "phone", "first_name", "last_name", "full_name",
    "date_of_birth", "address", "postcode", "city", "company", "role", "country",
    "created_at", "updated_at",
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
TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Dr")

# Surnames per country and first names per sex: (names, shares of people). The planted
# surname spellings are real surnames too: they are in the tail at tail frequency.
SURNAMES, MALE_NAMES, FEMALE_NAMES = name_tables(SURNAME_SPELLINGS)
