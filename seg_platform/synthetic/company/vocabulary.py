"""The words the company's systems write: names, domains, employers, paths, event types, junk."""

import numpy as np

from seg_platform.synthetic.company.behaviour import PAGE_CATEGORIES

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Edward",
    "Sharon", "Jason", "Laura", "Jeffrey", "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary",
    "Angela", "Nicholas", "Shirley", "Eric", "Anna", "Jonathan", "Brenda", "Stephen", "Pamela",
    "Larry", "Emma", "Justin", "Nicole", "Scott", "Helen", "Brandon", "Samantha", "Benjamin",
    "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Frank",
    "Carolyn", "Patrick", "Janet", "Raymond", "Catherine", "Jack", "Maria", "Dennis", "Heather",
    "Jerry", "Diane", "Tyler", "Ruth", "Aaron", "Julie", "Jose", "Olivia", "Adam", "Joyce",
    "Nathan", "Virginia", "Henry", "Victoria", "Priya", "Wei", "Aisha", "Mateo", "Sofia", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner",
    "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Chen", "Wang", "Singh", "Okafor", "Kowalski", "Schmidt", "Rossi", "Dubois", "Tanaka",
)  # fmt: skip
PERSONAL_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
)  # fmt: skip
PERSONAL_DOMAIN_MIX = np.array([0.42, 0.15, 0.14, 0.1, 0.11, 0.04, 0.04])
# Employers of B2B contacts; the work email domain is derived from the name.
COMPANY_NAMES = (
    "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Wide World Importers",
    "Adventure Works", "Litware Inc", "Proseware", "Lamna Healthcare", "Fourth Coffee",
    "Coho Winery", "Alpine Ski House", "Blue Yonder Airlines", "Humongous Insurance",
    "Margie's Travel", "Trey Research", "Woodgrove Bank", "Graphic Design Institute", "Relecloud",
    "VanArsdel Ltd", "Bellows College", "Datum Corporation", "Southridge Video",
    "City Power & Light", "Consolidated Messenger", "Nod Publishers", "Wingtip Toys",
    "School of Fine Art",
)  # fmt: skip
COMPANY_DOMAINS = tuple(
    "".join(ch for ch in name.lower().split(" ltd")[0].split(" inc")[0] if ch.isalnum())
    + ".example"
    for name in COMPANY_NAMES
)
ROLES = (
    "Marketing Manager", "Data Analyst", "CEO", "Founder", "Product Manager", "Engineer",
    "Operations Lead", "Sales Director", "Customer Success", "Head of Growth", "CTO", "Buyer",
)  # fmt: skip
COUNTRY_CODES = ("US", "CA")
COUNTRY_NAMES = (("US", "USA", "United States", "us", "U.S."), ("CA", "Canada", "canada"))
CURRENCIES = ("USD", "CAD")

# Web paths: one table, each page category owns a contiguous block of it.
_WEB_PRODUCTS = tuple(
    f"{a}-{b}"
    for a in ("smart", "eco", "pro", "mini", "ultra", "classic")
    for b in ("speaker", "lamp", "backpack", "bottle", "watch", "kettle", "desk")
)
_COMPETITORS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka")
_BLOG_POSTS = tuple(
    f"{a}-{b}"
    for a in ("how-to", "guide-to", "ten-tips-for", "why-we-love")
    for b in ("segmentation", "onboarding", "exports", "dashboards", "alerts", "teams")
)
_PATH_BLOCKS = (
    ("/",),
    tuple(f"/product/{p}" for p in _WEB_PRODUCTS),
    ("/pricing",),
    tuple(f"/compare/{c}" for c in _COMPETITORS),
    ("/cart",),
    ("/checkout",),
    tuple(f"/blog/{b}" for b in _BLOG_POSTS),
    ("/login",),
    ("/signup",),
)
WEB_PATHS = tuple(p for block in _PATH_BLOCKS for p in block)
PATH_OFFSET = np.cumsum([0] + [len(b) for b in _PATH_BLOCKS[:-1]])
PATH_SIZE = np.array([len(b) for b in _PATH_BLOCKS])
SIGNUP_CATEGORY = len(_PATH_BLOCKS) - 1
LOGIN_CATEGORY = PAGE_CATEGORIES.index("login")
WEB_EVENT_TYPES = ("page_view", "add_to_cart", "checkout_started", "login", "signup")
EVENT_TYPE_OF_CATEGORY = np.array([0, 0, 0, 0, 1, 2, 0, 3, 4])

EMAIL_EVENT_TYPES = ("sent", "open", "click", "unsubscribe", "bounce")
BILLING_STATUSES = ("paid", "failed", "refunded")
ORDER_STATUSES = ("completed", "cancelled", "refunded")

# Junk that real systems put into identifier fields; only ever in optional columns.
JUNK_EMAIL = ("test@test.com", "null", "n/a", "N/A")
JUNK_PHONE = ("0000", "null", "N/A", "n/a")
JUNK_ID = ("null", "n/a", "N/A", "0000")
JUNK_SHARE = 0.003
