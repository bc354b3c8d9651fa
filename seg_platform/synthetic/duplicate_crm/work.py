"""Work: companies (with the ways their names get written), roles, email domains."""

from __future__ import annotations

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
