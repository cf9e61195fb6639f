"""Deterministic generators of realistic French B2B CRM data.

Pure functions of a seeded ``random.Random``: no database, no I/O, no global state.
Everything that would be costly per item (ascii folding, weight tables, postal-code
lookups) is precomputed or cached so that millions of rows can be generated quickly.
Phone numbers are built directly as E.164 strings from number ranges that
``phonenumbers`` accepts as valid French fixed-line / mobile numbers.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
import zlib
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

try:  # pragma: no branch - python-stdnum is a declared dependency
    from stdnum.luhn import calc_check_digit as _stdnum_calc_check_digit
except ImportError:  # pragma: no cover
    _stdnum_calc_check_digit = None

T = TypeVar("T")

__all__ = [
    "CITIES",
    "NAF_CODES",
    "FrenchDataGenerator",
    "ascii_fold",
    "departement_for_postal_code",
    "luhn_key",
    "phone_zone_for_postal_code",
]


# --------------------------------------------------------------------------- helpers


def _luhn_key_fallback(digits: str) -> str:
    total = 0
    # The check digit will be appended, so the rightmost existing digit is doubled.
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_key(digits: str) -> str:
    """Luhn check digit to append to ``digits`` (a string of decimal digits)."""
    if not digits.isdigit():
        raise ValueError(f"luhn_key expects decimal digits, got {digits!r}")
    if _stdnum_calc_check_digit is not None:
        return str(_stdnum_calc_check_digit(digits))
    return _luhn_key_fallback(digits)


_FOLD_TABLE = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "’": "'"})
_fold_cache: dict[str, str] = {}


def ascii_fold(text: str) -> str:
    """Strip accents and ligatures: "Hélène Lefèvre-Cœur" -> "Helene Lefevre-Coeur"."""
    cached = _fold_cache.get(text)
    if cached is None:
        decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD_TABLE))
        cached = decomposed.encode("ascii", "ignore").decode("ascii")
        if len(_fold_cache) < 200_000:
            _fold_cache[text] = cached
    return cached


_slug_cache: dict[str, str] = {}


def _slug(text: str, sep: str = "") -> str:
    """Lowercase ascii token: spaces and apostrophes removed (or replaced by ``sep``)."""
    key = text + "\x00" + sep
    cached = _slug_cache.get(key)
    if cached is None:
        folded = ascii_fold(text).lower().replace("'", sep).replace(" ", sep)
        out = []
        for ch in folded:
            if (ch.isascii() and ch.isalnum()) or ch in "-." or (sep and ch == sep):
                out.append(ch)
        cached = "".join(out)
        while "--" in cached:
            cached = cached.replace("--", "-")
        cached = cached.strip("-.")
        if len(_slug_cache) < 200_000:
            _slug_cache[key] = cached
    return cached


def departement_for_postal_code(postal_code: str) -> str:
    """Département code of a French postal code: "75008" -> "75", "20000" -> "2A", "97400" -> "974"."""
    if len(postal_code) != 5 or not postal_code.isdigit():
        raise ValueError(f"not a French postal code: {postal_code!r}")
    if postal_code.startswith("20"):
        return "2A" if int(postal_code) < 20200 else "2B"
    if postal_code.startswith("97") or postal_code.startswith("98"):
        return postal_code[:3]
    return postal_code[:2]


_ZONE_1 = {"75", "77", "78", "91", "92", "93", "94", "95"}
_ZONE_2 = {
    # Bretagne, Normandie, Pays de la Loire, Centre-Val de Loire
    *("22", "29", "35", "56", "14", "27", "50", "61", "76", "44", "49", "53", "72", "85"),
    *("18", "28", "36", "37", "41", "45"),
}
_ZONE_3 = {
    # Hauts-de-France, Grand Est, Bourgogne-Franche-Comté
    *("02", "59", "60", "62", "80", "08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    *("21", "25", "39", "58", "70", "71", "89", "90"),
}
_ZONE_4 = {
    # Auvergne-Rhône-Alpes, Provence-Alpes-Côte d'Azur, eastern Occitanie, Corse
    *("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    *("04", "05", "06", "13", "83", "84", "11", "30", "34", "48", "66", "2A", "2B"),
}
_ZONE_5 = {
    # Nouvelle-Aquitaine, western Occitanie
    *("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    *("09", "12", "31", "32", "46", "65", "81", "82"),
}
_ZONE_BY_DEPT: dict[str, str] = {}
for _zone, _depts in (("1", _ZONE_1), ("2", _ZONE_2), ("3", _ZONE_3), ("4", _ZONE_4), ("5", _ZONE_5)):
    for _d in _depts:
        _ZONE_BY_DEPT[_d] = _zone


def phone_zone_for_postal_code(postal_code: str) -> str:
    """First digit of the national landline number ("1".."5") for a metropolitan postal code."""
    try:
        dept = departement_for_postal_code(postal_code)
    except ValueError:
        return "1"
    return _ZONE_BY_DEPT.get(dept, "1")


# Second digit after the zone digit that phonenumbers' FR metadata accepts for any 7 trailing digits.
_LANDLINE_SECOND: dict[str, tuple[str, ...]] = {
    "1": tuple("0123456789"),
    "2": tuple("012345789"),  # 026x is partly La Réunion
    "3": tuple("0123456789"),
    "4": tuple("123456789"),
    "5": tuple("012345678"),  # 059x is partly the French Antilles
}
_MOBILE_PREFIXES: tuple[str, ...] = (
    *("60", "61", "62", "64", "65", "66", "67", "68"),
    *("60", "61", "62", "64", "65", "66", "67", "68"),
    *("73", "74", "75", "76", "77", "78"),
)


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


# --------------------------------------------------------------------------- reference data

NAF_CODES: tuple[tuple[str, str], ...] = (
    ("62.01Z", "Programmation informatique"),
    ("62.02A", "Conseil en systèmes et logiciels informatiques"),
    ("62.02B", "Tierce maintenance de systèmes et d'applications informatiques"),
    ("62.03Z", "Gestion d'installations informatiques"),
    ("62.09Z", "Autres activités informatiques"),
    ("63.11Z", "Traitement de données, hébergement et activités connexes"),
    ("58.29C", "Édition de logiciels applicatifs"),
    ("70.22Z", "Conseil pour les affaires et autres conseils de gestion"),
    ("69.20Z", "Activités comptables"),
    ("69.10Z", "Activités juridiques"),
    ("71.12B", "Ingénierie, études techniques"),
    ("73.11Z", "Activités des agences de publicité"),
    ("78.10Z", "Activités des agences de placement de main-d'œuvre"),
    ("85.59A", "Formation continue d'adultes"),
    ("41.20A", "Construction de maisons individuelles"),
    ("41.20B", "Construction d'autres bâtiments"),
    ("43.21A", "Travaux d'installation électrique dans tous locaux"),
    ("43.22A", "Travaux d'installation d'eau et de gaz en tous locaux"),
    ("43.22B", "Travaux d'installation d'équipements thermiques et de climatisation"),
    ("43.32A", "Travaux de menuiserie bois et PVC"),
    ("43.34Z", "Travaux de peinture et vitrerie"),
    ("43.99C", "Travaux de maçonnerie générale et gros œuvre de bâtiment"),
    ("46.46Z", "Commerce de gros (commerce interentreprises) de produits pharmaceutiques"),
    (
        "46.51Z",
        "Commerce de gros (commerce interentreprises) d'ordinateurs, d'équipements informatiques "
        "périphériques et de logiciels",
    ),
    (
        "46.69B",
        "Commerce de gros (commerce interentreprises) de fournitures et équipements industriels divers",
    ),
    ("46.90Z", "Commerce de gros (commerce interentreprises) non spécialisé"),
    ("47.11D", "Supermarchés"),
    ("47.73Z", "Commerce de détail de produits pharmaceutiques en magasin spécialisé"),
    ("47.74Z", "Commerce de détail d'articles médicaux et orthopédiques en magasin spécialisé"),
    ("47.91B", "Vente à distance sur catalogue spécialisé"),
    ("10.71C", "Boulangerie et boulangerie-pâtisserie"),
    ("56.10A", "Restauration traditionnelle"),
    ("55.10Z", "Hôtels et hébergement similaire"),
    ("49.41A", "Transports routiers de fret interurbains"),
    ("52.29A", "Messagerie, fret express"),
    ("68.20B", "Location de terrains et d'autres biens immobiliers"),
    ("68.31Z", "Agences immobilières"),
    ("25.62B", "Mécanique industrielle"),
    ("32.50A", "Fabrication de matériel médico-chirurgical et dentaire"),
    (
        "26.60Z",
        "Fabrication d'équipements d'irradiation médicale, d'équipements électromédicaux "
        "et électrothérapeutiques",
    ),
    ("86.10Z", "Activités hospitalières"),
    ("86.21Z", "Activité des médecins généralistes"),
    ("86.22C", "Autres activités des médecins spécialistes"),
    ("86.23Z", "Pratique dentaire"),
    ("86.90A", "Ambulances"),
    ("86.90D", "Activités des infirmiers et des sages-femmes"),
    ("87.10A", "Hébergement médicalisé pour personnes âgées"),
    ("88.10A", "Aide à domicile"),
    ("81.21Z", "Nettoyage courant des bâtiments"),
    ("45.20A", "Entretien et réparation de véhicules automobiles légers"),
    ("01.21Z", "Culture de la vigne"),
    ("94.99Z", "Autres organisations fonctionnant par adhésion volontaire"),
)
_NAF_CUM = _cum(
    [
        # IT / services are over-represented among CRM users; health is a key vertical.
        8 if code[:2] in {"62", "63", "58", "70", "69", "71"} else 5 if code[:2] in {"86", "87", "46"} else 3
        for code, _ in NAF_CODES
    ]
)

_LEGAL_FORMS: tuple[str, ...] = (
    "SAS",
    "SASU",
    "SARL",
    "EURL",
    "SA",
    "SCI",
    "SNC",
    "EI",
    "Association loi 1901",
)
_LEGAL_FORMS_CUM = _cum([30, 17, 22, 8, 4, 6, 1, 9, 3])

# (postal code, city, relative weight). Weights loosely follow the number of businesses.
CITIES: tuple[tuple[str, str, int], ...] = (
    *((f"750{n:02d}", "Paris", 6) for n in range(1, 21)),
    *((f"6900{n}", "Lyon", 4) for n in range(1, 10)),
    *((f"130{n:02d}", "Marseille", 3) for n in (1, 2, 3, 6, 8, 9, 10, 12, 13, 15)),
    ("59000", "Lille", 10),
    ("33000", "Bordeaux", 12),
    ("31000", "Toulouse", 14),
    ("44000", "Nantes", 12),
    ("67000", "Strasbourg", 10),
    ("35000", "Rennes", 10),
    ("06000", "Nice", 10),
    ("38000", "Grenoble", 8),
    ("21000", "Dijon", 6),
    ("34000", "Montpellier", 10),
    ("51100", "Reims", 6),
    ("29200", "Brest", 5),
    ("20000", "Ajaccio", 3),
    ("20200", "Bastia", 2),
    ("20137", "Porto-Vecchio", 1),
    ("20250", "Corte", 1),
    ("76600", "Le Havre", 5),
    ("42000", "Saint-Étienne", 5),
    ("83000", "Toulon", 5),
    ("49000", "Angers", 5),
    ("30000", "Nîmes", 4),
    ("69100", "Villeurbanne", 4),
    ("63000", "Clermont-Ferrand", 5),
    ("72000", "Le Mans", 4),
    ("13100", "Aix-en-Provence", 5),
    ("37000", "Tours", 5),
    ("80000", "Amiens", 4),
    ("87000", "Limoges", 4),
    ("74000", "Annecy", 4),
    ("66000", "Perpignan", 4),
    ("92100", "Boulogne-Billancourt", 6),
    ("57000", "Metz", 4),
    ("25000", "Besançon", 4),
    ("45000", "Orléans", 4),
    ("93200", "Saint-Denis", 4),
    ("95100", "Argenteuil", 3),
    ("76000", "Rouen", 5),
    ("68100", "Mulhouse", 3),
    ("93100", "Montreuil", 3),
    ("14000", "Caen", 4),
    ("54000", "Nancy", 4),
    ("59200", "Tourcoing", 2),
    ("59100", "Roubaix", 2),
    ("92000", "Nanterre", 4),
    ("94400", "Vitry-sur-Seine", 2),
    ("84000", "Avignon", 3),
    ("94000", "Créteil", 3),
    ("86000", "Poitiers", 3),
    ("59140", "Dunkerque", 2),
    ("78000", "Versailles", 3),
    ("92400", "Courbevoie", 4),
    ("64000", "Pau", 3),
    ("50100", "Cherbourg-en-Cotentin", 2),
    ("17000", "La Rochelle", 3),
    ("62100", "Calais", 2),
    ("06600", "Antibes", 2),
    ("06400", "Cannes", 2),
    ("34500", "Béziers", 2),
    ("68000", "Colmar", 2),
    ("44600", "Saint-Nazaire", 2),
    ("18000", "Bourges", 2),
    ("29000", "Quimper", 2),
    ("26000", "Valence", 2),
    ("56000", "Vannes", 2),
    ("56100", "Lorient", 2),
    ("10000", "Troyes", 2),
    ("73000", "Chambéry", 2),
    ("79000", "Niort", 2),
    ("16000", "Angoulême", 2),
    ("28000", "Chartres", 2),
    ("53000", "Laval", 2),
    ("35400", "Saint-Malo", 2),
    ("22000", "Saint-Brieuc", 2),
    ("41000", "Blois", 2),
    ("36000", "Châteauroux", 1),
    ("27000", "Évreux", 2),
    ("61000", "Alençon", 1),
    ("62300", "Lens", 1),
    ("62000", "Arras", 2),
    ("60000", "Beauvais", 2),
    ("60200", "Compiègne", 2),
    ("02100", "Saint-Quentin", 1),
    ("02000", "Laon", 1),
    ("08000", "Charleville-Mézières", 1),
    ("51000", "Châlons-en-Champagne", 1),
    ("88000", "Épinal", 1),
    ("90000", "Belfort", 1),
    ("89000", "Auxerre", 1),
    ("71000", "Mâcon", 1),
    ("71100", "Chalon-sur-Saône", 1),
    ("58000", "Nevers", 1),
    ("70000", "Vesoul", 1),
    ("39000", "Lons-le-Saunier", 1),
    ("01000", "Bourg-en-Bresse", 1),
    ("03000", "Moulins", 1),
    ("03200", "Vichy", 1),
    ("15000", "Aurillac", 1),
    ("43000", "Le Puy-en-Velay", 1),
    ("07000", "Privas", 1),
    ("05000", "Gap", 1),
    ("04000", "Digne-les-Bains", 1),
    ("11000", "Carcassonne", 1),
    ("11100", "Narbonne", 1),
    ("48000", "Mende", 1),
    ("12000", "Rodez", 1),
    ("81000", "Albi", 1),
    ("82000", "Montauban", 1),
    ("32000", "Auch", 1),
    ("65000", "Tarbes", 1),
    ("09000", "Foix", 1),
    ("46000", "Cahors", 1),
    ("47000", "Agen", 1),
    ("40000", "Mont-de-Marsan", 1),
    ("64100", "Bayonne", 2),
    ("64200", "Biarritz", 1),
    ("24000", "Périgueux", 1),
    ("19100", "Brive-la-Gaillarde", 1),
    ("19000", "Tulle", 1),
    ("23000", "Guéret", 1),
    ("33700", "Mérignac", 3),
    ("33600", "Pessac", 2),
    ("31700", "Blagnac", 2),
    ("31670", "Labège", 2),
    ("06560", "Valbonne", 2),
    ("59650", "Villeneuve-d'Ascq", 3),
    ("92130", "Issy-les-Moulineaux", 3),
    ("92300", "Levallois-Perret", 3),
    ("92200", "Neuilly-sur-Seine", 3),
    ("92500", "Rueil-Malmaison", 2),
    ("44800", "Saint-Herblain", 2),
    ("35510", "Cesson-Sévigné", 2),
    ("67400", "Illkirch-Graffenstaden", 1),
    ("69130", "Écully", 1),
    ("69800", "Saint-Priest", 2),
    ("38240", "Meylan", 1),
    ("91300", "Massy", 2),
    ("91000", "Évry-Courcouronnes", 2),
    ("95000", "Cergy", 2),
    ("77000", "Melun", 1),
    ("93160", "Noisy-le-Grand", 2),
    ("78100", "Saint-Germain-en-Laye", 2),
    ("78140", "Vélizy-Villacoublay", 2),
    ("94150", "Rungis", 1),
    ("85000", "La Roche-sur-Yon", 2),
    ("49300", "Cholet", 1),
    ("22300", "Lannion", 1),
    ("29600", "Morlaix", 1),
    ("57100", "Thionville", 1),
    ("67500", "Haguenau", 1),
    ("55100", "Verdun", 1),
    ("52000", "Chaumont", 1),
    ("25200", "Montbéliard", 1),
    ("74100", "Annemasse", 1),
    ("73100", "Aix-les-Bains", 1),
    ("42300", "Roanne", 1),
    ("38200", "Vienne", 1),
    ("83600", "Fréjus", 1),
    ("83400", "Hyères", 1),
    ("13200", "Arles", 1),
    ("13500", "Martigues", 1),
    ("34200", "Sète", 1),
)
_CITIES_CUM = _cum([w for _, _, w in CITIES])

_STREET_NAMES: tuple[str, ...] = (
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "rue Pasteur",
    "place du Général de Gaulle",
    "rue Gambetta",
    "avenue de la Libération",
    "rue Jules Ferry",
    "rue Nationale",
    "rue du Moulin",
    "rue de l'Église",
    "rue des Écoles",
    "avenue du Maréchal Leclerc",
    "rue Victor Hugo",
    "rue de la Gare",
    "boulevard Gambetta",
    "rue Émile Zola",
    "avenue Foch",
    "rue Voltaire",
    "rue du Général Leclerc",
    "rue de Verdun",
    "rue Carnot",
    "place de la Mairie",
    "rue du 8 Mai 1945",
    "rue du 11 Novembre",
    "avenue des Champs",
    "rue des Lilas",
    "allée des Tilleuls",
    "impasse des Acacias",
    "chemin des Vignes",
    "route de Lyon",
    "route nationale",
    "rue Saint-Jacques",
    "quai de la Loire",
    "cours Lafayette",
    "rue Henri Barbusse",
    "avenue Pierre Mendès France",
    "rue Louis Pergaud",
    "rue de la Fontaine",
    "rue du Château",
    "rue des Peupliers",
    "avenue de l'Europe",
    "rue Jean Moulin",
    "boulevard de la Liberté",
    "rue François Mitterrand",
    "rue Marcel Pagnol",
    "rue Albert Camus",
    "rue Anatole France",
    "chemin de la Croix",
    "rue de Bretagne",
    "rue des Frères Lumière",
    "rue Ampère",
    "rue Denis Papin",
    "avenue Marie Curie",
    "rue Gustave Eiffel",
    "boulevard Haussmann",
    "rue du Faubourg Saint-Honoré",
    "rue de Rivoli",
    "cours Mirabeau",
    "rue Sainte-Catherine",
)
_BUSINESS_ZONES: tuple[str, ...] = (
    "ZA des Portes",
    "ZI Nord",
    "ZI des Sables",
    "ZAC de la Gare",
    "Parc d'activités du Moulin",
    "Zone artisanale des Prés",
    "Parc technologique",
    "Technopôle",
    "ZA du Bois Joli",
    "Parc d'affaires des Bruyères",
    "ZAE Les Landes",
    "Espace Européen",
)
_ZONE_STREETS: tuple[str, ...] = (
    "chemin des Artisans",
    "rue de l'Industrie",
    "rue des Entrepreneurs",
    "allée du Commerce",
    "rue Ampère",
    "avenue de l'Innovation",
    "rue du Bois",
    "chemin de la Plaine",
    "rue Thomas Edison",
    "impasse des Métiers",
)
_LINE2: tuple[str, ...] = (
    "Bâtiment B",
    "Bâtiment A, 2e étage",
    "3e étage",
    "Immeuble Le Trident",
    "Résidence Les Jardins",
    "Entrée C",
    "Porte 4",
    "Hall 2",
    "Immeuble Europa",
)

_FIRST_NAMES_M: tuple[str, ...] = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Nicolas", "Christophe", "Patrick", "Stéphane",
    "Laurent", "Frédéric", "Sébastien", "David", "Julien", "Olivier", "Éric", "Thierry", "Pascal",
    "Jérôme", "François", "Daniel", "Bernard", "Thomas", "Alexandre", "Antoine", "Maxime", "Guillaume",
    "Romain", "Mathieu", "Vincent", "Benoît", "Cédric", "Loïc", "Yannick", "Hervé", "Gérard", "Didier",
    "Emmanuel", "Fabrice", "Arnaud", "Hugo", "Lucas", "Théo", "Raphaël", "Clément", "Baptiste",
    "Quentin", "Kévin", "Adrien", "Jean-Pierre", "Jean-François", "Jean-Luc", "Gaël", "Joël", "Noël",
    "Anthony", "Bruno", "Grégory", "Rémi", "Marc", "Louis", "Paul", "Hugues", "Yves", "Florian",
    "Jérémy", "Aurélien", "Bastien", "Léo", "Mickaël",
)  # fmt: skip
_FIRST_NAMES_F: tuple[str, ...] = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Valérie", "Sandrine",
    "Christine", "Stéphanie", "Véronique", "Céline", "Sophie", "Aurélie", "Émilie", "Julie", "Camille",
    "Laura", "Léa", "Chloé", "Manon", "Sarah", "Élodie", "Hélène", "Anne", "Agnès", "Laurence",
    "Virginie", "Caroline", "Delphine", "Audrey", "Mélanie", "Pauline", "Claire", "Charlotte",
    "Margaux", "Inès", "Zoé", "Noémie", "Anaïs", "Maëlle", "Gaëlle", "Océane", "Brigitte", "Martine",
    "Monique", "Mireille", "Béatrice", "Cécile", "Danièle", "Geneviève", "Marie-Claude",
    "Marie-Hélène", "Anne-Sophie", "Bérénice", "Solène", "Clémence", "Élise", "Justine", "Estelle",
    "Florence", "Lætitia", "Myriam", "Karine", "Séverine", "Morgane",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller",
    "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier",
    "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas",
    "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont",
    "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly",
    "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche",
    "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre",
    "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe", "Bourgeois", "Pierre",
    "Benoît", "Rey", "Leclerc", "Payet", "Rolland", "Leclercq", "Guillaume", "Lecomte", "Lopez",
    "Jean", "Dupuy", "Guillot", "Hubert", "Berger", "Carpentier", "Sanchez", "Dupuis", "Moulin",
    "Louis", "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury", "Royer", "Klein",
    "Jacquet", "Adam", "Paris", "Poirier", "Marty", "Aubry", "Guyot", "Carré", "Charles", "Renault",
    "Charpentier", "Ménard", "Maillard", "Baron", "Bertin", "Bailly", "Hervé", "Schneider",
    "Fernandez", "Le Gall", "Collet", "Léger", "Bouvier", "Julien", "Prévost", "Millet", "Perrot",
    "Daniel", "Le Roux", "Cousin", "Germain", "Breton", "Besson", "Langlois", "Rémy", "Le Goff",
    "Pelletier", "Lévêque", "Perrier", "Leblanc", "Barré", "Lebrun", "Marchal", "Weber", "Mallet",
    "Hamon", "Boulanger", "Jacob", "Monnier", "Michaud", "Rodriguez", "Guichard", "Gillet",
    "Étienne", "Grondin", "Poulain", "Tessier", "Chevallier", "Collin", "Chauvin", "Da Silva",
    "Bouchet", "Gay", "Lemaître", "Bénard", "Maréchal", "Humbert", "Reynaud", "Antoine", "Hoarau",
    "Perret", "Barthélemy", "Cordier", "Pichon", "Lejeune", "Gilbert", "Lamy", "Delaunay",
    "Pasquier", "Carlier", "Laporte", "Nguyen", "Ferreira", "Thébault", "Chrétien", "Brémond",
    "D'Almeida", "Hébert",
)  # fmt: skip

# (masculine, feminine) job titles.
_JOB_TITLES_GENERAL: tuple[tuple[str, str], ...] = (
    ("Directeur général", "Directrice générale"),
    ("Président", "Présidente"),
    ("Gérant", "Gérante"),
    ("Directeur administratif et financier", "Directrice administrative et financière"),
    ("Responsable achats", "Responsable achats"),
    ("Acheteur", "Acheteuse"),
    ("Directeur commercial", "Directrice commerciale"),
    ("Responsable commercial", "Responsable commerciale"),
    ("Chargé d'affaires", "Chargée d'affaires"),
    ("Directeur des systèmes d'information", "Directrice des systèmes d'information"),
    ("Responsable informatique", "Responsable informatique"),
    ("Comptable", "Comptable"),
    ("Assistant de direction", "Assistante de direction"),
    ("Office manager", "Office manager"),
    ("Directeur des ressources humaines", "Directrice des ressources humaines"),
    ("Responsable RH", "Responsable RH"),
    ("Responsable marketing", "Responsable marketing"),
    ("Chef de projet", "Cheffe de projet"),
    ("Directeur technique", "Directrice technique"),
    ("Responsable logistique", "Responsable logistique"),
    ("Responsable qualité", "Responsable qualité"),
    ("Directeur d'agence", "Directrice d'agence"),
    ("Conducteur de travaux", "Conductrice de travaux"),
    ("Responsable des services généraux", "Responsable des services généraux"),
    ("Contrôleur de gestion", "Contrôleuse de gestion"),
    ("Directeur des opérations", "Directrice des opérations"),
    ("Ingénieur commercial", "Ingénieure commerciale"),
    ("Juriste", "Juriste"),
    ("Secrétaire général", "Secrétaire générale"),
    ("Responsable de production", "Responsable de production"),
)
_JOB_TITLES_HEALTH: tuple[tuple[str, str], ...] = (
    ("Pharmacien hospitalier", "Pharmacienne hospitalière"),
    ("Cadre de santé", "Cadre de santé"),
    ("Chef de service", "Cheffe de service"),
    ("Ingénieur biomédical", "Ingénieure biomédicale"),
    ("Directeur des soins", "Directrice des soins"),
    ("Médecin coordonnateur", "Médecin coordonnatrice"),
    ("Infirmier coordinateur", "Infirmière coordinatrice"),
    ("Directeur d'établissement", "Directrice d'établissement"),
    ("Responsable des achats hospitaliers", "Responsable des achats hospitaliers"),
    ("Praticien hospitalier", "Praticienne hospitalière"),
    ("Chirurgien", "Chirurgienne"),
    ("Médecin anesthésiste", "Médecin anesthésiste"),
    ("Pharmacien gérant", "Pharmacienne gérante"),
    ("Cadre supérieur de santé", "Cadre supérieure de santé"),
)

_TRADES: tuple[str, ...] = (
    "Boulangerie", "Pâtisserie", "Boucherie", "Charcuterie", "Garage", "Transports", "Menuiserie",
    "Plomberie", "Électricité", "Maçonnerie", "Charpente", "Couverture", "Peinture", "Carrelage",
    "Serrurerie", "Imprimerie", "Pharmacie", "Cabinet", "Laboratoires", "Ambulances", "Taxis",
    "Optique", "Fromagerie", "Brasserie", "Restaurant", "Hôtel", "Librairie", "Fleurs", "Jardins",
    "Paysages", "Nettoyage", "Informatique", "Conseil", "Expertise comptable", "Agence", "Studio",
    "Atelier", "Ateliers", "Établissements", "Société", "Entreprise", "Bâtiment", "Travaux publics",
    "Chauffage", "Climatisation", "Vins", "Domaine", "Maison", "Scierie", "Chaudronnerie",
    "Mécanique", "Tôlerie", "Déménagements", "Traiteur", "Auto-école", "Immobilier", "Façades",
    "Isolation", "Ferronnerie", "Ébénisterie", "Métallerie", "Vitrerie", "Quincaillerie",
)  # fmt: skip
_PLACES: tuple[str, ...] = (
    "des Alpes", "du Vercors", "de Provence", "de Bretagne", "du Val de Loire", "de l'Ouest",
    "du Sud-Ouest", "des Pyrénées", "de la Côte d'Azur", "du Jura", "des Vosges", "de Normandie",
    "de l'Hérault", "de Vendée", "du Périgord", "de l'Ardèche", "du Léman", "de Champagne", "d'Alsace",
    "de Lorraine", "du Berry", "de la Vallée", "du Lac", "des Landes", "de l'Estuaire", "du Littoral",
    "des Cévennes", "du Luberon", "de Savoie", "de l'Isère", "du Morbihan", "du Finistère",
    "de Gascogne", "du Quercy", "de Sologne", "des Flandres", "de l'Artois", "de Picardie",
    "du Cotentin", "de l'Atlantique", "de la Méditerranée", "du Rhône", "de la Garonne", "de la Loire",
    "des Deux Rivières", "du Moulin", "de la Gare", "du Centre", "du Parc", "des Prés", "des Châteaux",
    "de la Côte d'Opale", "du Pays basque", "de Bourgogne", "d'Auvergne", "du Limousin",
)  # fmt: skip
_SECTORS: tuple[str, ...] = (
    "Conseil", "Industrie", "Services", "Distribution", "Bâtiment", "Santé", "Logistique",
    "Immobilier", "Ingénierie", "Informatique", "Environnement", "Énergie", "Médical", "Patrimoine",
    "Finance", "Formation", "Développement", "Rénovation", "Équipements", "Technologies",
)  # fmt: skip
_FAMILY_SUFFIXES: tuple[str, ...] = ("& Fils", "& Cie", "et Associés", "Frères", "& Filles", "Père et Fils")
_COINED_ROOTS: tuple[str, ...] = (
    "Axi", "Nova", "Alti", "Logi", "Médi", "Océa", "Terra", "Vita", "Opti", "Ingé", "Sigma", "Delta",
    "Orbi", "Cyber", "Éco", "Hélio", "Néo", "Kali", "Alpha", "Trans", "Aéro", "Hydro", "Pro", "Sud",
)  # fmt: skip
_COINED_SUFFIXES: tuple[str, ...] = (
    "com", "tec", "lis", "sys", "pharm", "data", "soft", "lab", "log", "net", "via", "lia", "sens",
    "care", "ware", "nova", "line", "med", "pro", "tis", "gestion", "bat", "form", "vision",
)  # fmt: skip
_COINED_TAILS: tuple[str, ...] = (
    "", "", "", " Solutions", " Services", " Technologies", " Santé", " Conseil", " Ingénierie",
    " Systèmes", " France", " Médical",
)  # fmt: skip
_NAME_LEGAL_SUFFIXES: tuple[str, ...] = ("SAS", "SARL", "SA", "EURL", "SASU")
# Weights favour the high-cardinality templates so that names rarely repeat (see company_name).
_NAME_TEMPLATES_CUM = _cum([8, 3, 4, 4, 6, 6, 6, 4, 14, 14, 3, 2, 10, 10])
_NAME_TEMPLATES = range(len(_NAME_TEMPLATES_CUM))

_HEADCOUNT_BRACKETS: tuple[tuple[str, int, int], ...] = (
    ("0", 0, 0),
    ("1-2", 1, 2),
    ("3-5", 3, 5),
    ("6-9", 6, 9),
    ("10-19", 10, 19),
    ("20-49", 20, 49),
    ("50-99", 50, 99),
    ("100-199", 100, 199),
    ("200-249", 200, 249),
    ("250-499", 250, 499),
    ("500-999", 500, 999),
    ("1000-1999", 1000, 1999),
    ("2000-4999", 2000, 4999),
    ("5000+", 5000, 15000),
)
_HEADCOUNT_CUM = _cum([20, 22, 16, 12, 11, 9, 4, 2.5, 0.8, 1, 0.5, 0.3, 0.15, 0.08])

_SAINTS: tuple[str, ...] = (
    "Saint-Joseph", "Saint-Martin", "Sainte-Anne", "Saint-Louis", "Saint-Vincent", "Sainte-Marie",
    "Saint-Jean", "Sainte-Thérèse", "Saint-Augustin", "Saint-Michel", "Saint-François", "Saint-Roch",
    "Sainte-Élisabeth", "Saint-Côme", "Saint-Antoine", "Sainte-Odile",
)  # fmt: skip
_CLINIC_NAMES: tuple[str, ...] = (
    "des Cèdres", "du Parc", "des Émeraudes", "de l'Espérance", "du Val d'Ouest", "des Alpes",
    "Pasteur", "Bel-Air", "La Louvière", "des Franciscaines", "du Mail", "Les Fontaines",
)  # fmt: skip
_EHPAD_NAMES: tuple[str, ...] = (
    "Les Tilleuls", "Les Glycines", "Les Jardins de Provence", "La Roseraie", "Les Hortensias",
    "Le Clos Fleuri", "Les Magnolias", "La Source", "Résidence du Lac", "Les Charmilles",
    "Les Écureuils", "Le Bois Joli", "La Chênaie", "Les Marronniers",
)  # fmt: skip

_DEAL_TITLES: tuple[str, ...] = (
    "Renouvellement parc informatique",
    "Contrat de maintenance {year}",
    "Équipement bloc opératoire",
    "Formation équipe commerciale",
    "Migration vers le cloud",
    "Déploiement CRM",
    "Audit de sécurité informatique",
    "Refonte du site web",
    "Fourniture de consommables {year}",
    "Contrat cadre {year}-{year2}",
    "Accompagnement RGPD",
    "Rénovation des locaux",
    "Extension de licence logicielle",
    "Mise en place de la téléphonie IP",
    "Location de matériel médical",
    "Achat de lits médicalisés",
    "Équipement de stérilisation",
    "Dispositifs de perfusion {year}",
    "Mobilier de bureau",
    "Prestation de nettoyage",
    "Marché de restauration collective",
    "Infogérance serveurs",
    "Sauvegarde externalisée",
    "Flotte de véhicules utilitaires",
    "Installation photovoltaïque",
    "Mission de conseil en organisation",
    "Formation management",
    "Remplacement chaudière",
    "Travaux d'isolation",
    "Appel d'offres fournitures {year}",
    "Pack de démarrage",
    "Abonnement annuel",
    "Étude de faisabilité",
    "Équipement imagerie médicale",
    "Moniteurs de surveillance",
)
_LOST_REASONS: tuple[str, ...] = (
    "Prix trop élevé",
    "Choix d'un concurrent",
    "Projet abandonné",
    "Pas de budget",
    "Pas de réponse",
    "Projet reporté",
    "Besoin mal qualifié",
    "Délais de livraison trop longs",
)
_LOST_REASONS_CUM = _cum([28, 26, 12, 14, 12, 5, 2, 1])

_SOURCES: tuple[str, ...] = (
    "Site web",
    "Salon",
    "Recommandation",
    "Prospection",
    "LinkedIn",
    "Appel entrant",
    "Partenaire",
)
_SOURCES_CUM = _cum([25, 10, 18, 20, 10, 10, 7])

_TASK_TITLES: tuple[str, ...] = (
    "Relancer pour le devis",
    "Envoyer la documentation",
    "Préparer la démo",
    "Envoyer le devis",
    "Rappeler le client",
    "Planifier un rendez-vous",
    "Mettre à jour la fiche contact",
    "Préparer la proposition commerciale",
    "Vérifier le bon de commande",
    "Relancer la facture impayée",
    "Envoyer le contrat pour signature",
    "Organiser la visite sur site",
    "Préparer la réponse à l'appel d'offres",
    "Confirmer la date de livraison",
    "Faire un point avec le service technique",
    "Envoyer les références clients",
    "Qualifier le besoin",
    "Programmer la formation",
    "Demander un retour sur la démo",
    "Valider les conditions de paiement",
    "Envoyer le compte rendu de réunion",
    "Mettre à jour les prévisions",
    "Inviter au salon",
    "Envoyer les vœux",
)

_TOPICS: tuple[str, ...] = (
    "le devis",
    "la proposition commerciale",
    "le contrat de maintenance",
    "la démonstration",
    "la facture",
    "la livraison",
    "le renouvellement",
    "l'appel d'offres",
    "les tarifs",
    "le planning d'installation",
    "la formation",
    "le bon de commande",
    "les conditions de paiement",
    "le cahier des charges",
    "le projet",
)
_WEEKDAYS: tuple[str, ...] = ("lundi", "mardi", "mercredi", "jeudi", "vendredi")
_MONTHS: tuple[str, ...] = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "septembre", "octobre",
    "novembre", "décembre",
)  # fmt: skip

_ACTIVITY_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": (
        "Appel de suivi : {topic}",
        "Point téléphonique sur {topic}",
        "Appel de découverte",
        "Relance téléphonique",
        "Qualification du besoin",
        "Appel entrant : question sur {topic}",
        "Appel – messagerie, rappeler {weekday}",
        "Échange avec l'acheteur sur {topic}",
    ),
    "email": (
        "Envoi de {topic}",
        "Re: {topic}",
        "Suite à notre échange",
        "Documentation demandée",
        "Relance : {topic}",
        "Confirmation du rendez-vous de {weekday}",
        "Question sur {topic}",
        "Invitation : webinaire de {month}",
    ),
    "meeting": (
        "Réunion de lancement",
        "Rendez-vous de présentation",
        "Comité de pilotage",
        "Démonstration produit",
        "Réunion de suivi de projet",
        "Négociation : {topic}",
        "Visioconférence avec la direction",
        "Atelier de cadrage",
    ),
    "visit": (
        "Visite sur site",
        "Visite de l'établissement",
        "Passage en agence",
        "Visite technique avant installation",
        "Rencontre au stand du salon",
        "Visite de courtoisie",
        "Audit sur place",
        "Livraison et mise en service",
    ),
    "note": (
        "Note interne",
        "Informations sur l'organigramme",
        "Contexte du compte",
        "Remarque sur {topic}",
        "Concurrence en place",
        "Budget prévisionnel",
        "À retenir avant le prochain rendez-vous",
        "Historique de la relation",
    ),
}
_ACTIVITY_SENTENCES: dict[str, tuple[str, ...]] = {
    "call": (
        "Échange cordial avec l'interlocuteur, intéressé par {topic}.",
        "Le client souhaite recevoir une nouvelle version avant fin {month}.",
        "Pas joignable ce matin, message laissé sur le répondeur.",
        "Le budget sera arbitré lors du prochain comité de direction.",
        "Besoin confirmé pour environ {n} postes.",
        "Demande de rappel {weekday} après-midi.",
        "Le décideur final est le directeur administratif et financier.",
        "Il compare actuellement deux autres prestataires.",
        "Satisfait de la prestation actuelle, souhaite étendre le périmètre.",
        "Questions sur les délais de livraison et la garantie.",
    ),
    "email": (
        "Bonjour, veuillez trouver ci-joint {topic} comme convenu.",
        "Je reste à votre disposition pour toute question.",
        "Pourriez-vous me confirmer votre disponibilité {weekday} prochain ?",
        "Suite à notre conversation, je vous propose un rendez-vous en {month}.",
        "Nous pouvons vous accorder une remise de {pct} % sur la première année.",
        "Merci de votre retour rapide.",
        "Je me permets de vous relancer concernant {topic}.",
        "Vous trouverez également la documentation technique en pièce jointe.",
        "Bien cordialement.",
    ),
    "meeting": (
        "Présents : direction, service achats et responsable technique.",
        "Présentation de la solution et des références dans le secteur.",
        "Points bloquants : délais et intégration avec l'existant.",
        "Prochaine étape : envoi d'une proposition chiffrée d'ici {weekday}.",
        "Le client souhaite un pilote sur {n} sites.",
        "Décision attendue pour fin {month}.",
        "Bonne dynamique, la direction est convaincue.",
        "Discussion sur {topic} ; ajustements à prévoir.",
        "Compte rendu envoyé à l'ensemble des participants.",
    ),
    "visit": (
        "Visite des locaux et rencontre des équipes terrain.",
        "Relevé des besoins : {n} équipements à remplacer.",
        "Accueil par le responsable des services techniques.",
        "L'installation actuelle date de plus de dix ans.",
        "Le site dispose d'un accès livraison par l'arrière du bâtiment.",
        "Échange informel autour d'un café, très bon contact.",
        "Prise de photos pour préparer {topic}.",
        "Prochaine visite prévue en {month}.",
    ),
    "note": (
        "Le compte est historiquement suivi par l'agence de Lyon.",
        "Attention : délais de paiement à 60 jours fin de mois.",
        "Interlocuteur principal en congé jusqu'à fin {month}.",
        "Concurrent en place depuis {n} ans, contrat arrivant à échéance.",
        "Ne pas appeler avant 10 h.",
        "Budget annuel estimé à {k} k€.",
        "Préfère être contacté par e-mail.",
        "Réorganisation interne en cours, décisions ralenties.",
        "Rattaché au groupe depuis l'an dernier.",
    ),
}
ACTIVITY_KINDS: tuple[str, ...] = tuple(_ACTIVITY_SUBJECTS)


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: random.Random, seq: Sequence[T], cum: list[float]) -> T:
    return rng.choices(seq, cum_weights=cum)[0]


def _de(name: str) -> str:
    """French "de" + place name with elision/contraction: "d'Angers", "du Mans", "de Lyon"."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    if ascii_fold(name[:1]).upper() in {"A", "E", "I", "O", "U", "Y"}:
        return "d'" + name
    return "de " + name


# --------------------------------------------------------------------------- generator


class FrenchDataGenerator:
    """Seeded, deterministic generator of French B2B CRM data. Same seed, same call order, same output."""

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._sirens: set[str] = set()
        self._company_names: set[str] = set()

    # ---------------------------------------------------------------- identifiers

    def siren(self) -> str:
        """A new valid SIREN (Luhn), first digit 3-9, unique within this generator."""
        rng = self.rng
        while True:
            body = str(rng.randrange(30_000_000, 100_000_000))
            number = body + luhn_key(body)
            if number == "356000000" or number in self._sirens:
                continue
            self._sirens.add(number)
            return number

    def siret(self, siren: str, establishment: int = 1) -> str:
        """SIRET = SIREN + 4-digit establishment number + Luhn key over the 14 digits."""
        if len(siren) != 9 or not siren.isdigit():
            raise ValueError(f"invalid SIREN {siren!r}")
        if siren == "356000000":
            raise ValueError("La Poste SIRETs follow a special rule and are not generated")
        if not 0 <= establishment <= 9999:
            raise ValueError("establishment must be between 0 and 9999")
        body = f"{siren}{establishment:04d}"
        return body + luhn_key(body)

    @staticmethod
    def vat_number(siren: str) -> str:
        """French intra-community VAT number: FR + 2-digit key + SIREN."""
        if len(siren) != 9 or not siren.isdigit():
            raise ValueError(f"invalid SIREN {siren!r}")
        key = (12 + 3 * (int(siren) % 97)) % 97
        return f"FR{key:02d}{siren}"

    def rpps(self) -> str:
        """RPPS number of a health professional: "10" + 8 digits + Luhn key."""
        body = f"10{self.rng.randrange(100_000_000):08d}"
        return body + luhn_key(body)

    def finess(self, departement: str) -> str:
        """FINESS number: département (2 chars, or 3 for overseas) + digits + Luhn key (9 chars)."""
        dept = departement.upper()
        if not (2 <= len(dept) <= 3) or not (dept.isdigit() or dept in {"2A", "2B"}):
            raise ValueError(f"invalid département {departement!r}")
        body = dept + f"{self.rng.randrange(10 ** (8 - len(dept))):0{8 - len(dept)}d}"
        # Corsican numbers carry letters; the key is computed over the digits with A/B read as 0.
        return body + luhn_key(body.replace("A", "0").replace("B", "0"))

    # ---------------------------------------------------------------- company data

    def naf_code(self) -> tuple[str, str]:
        """(NAF rév. 2 code, French label)."""
        return _weighted(self.rng, NAF_CODES, _NAF_CUM)

    def legal_form(self) -> str:
        return _weighted(self.rng, _LEGAL_FORMS, _LEGAL_FORMS_CUM)

    def company_name(self) -> str:
        """A plausible French company name; a few retries keep names distinct within this generator."""
        name = self._company_name()
        for _ in range(4):
            if name not in self._company_names:
                break
            name = self._company_name()
        self._company_names.add(name)
        return name

    def _company_name(self) -> str:
        rng = self.rng
        template = rng.choices(_NAME_TEMPLATES, cum_weights=_NAME_TEMPLATES_CUM)[0]
        if template == 0:
            return f"{_pick(rng, _TRADES)} {_pick(rng, _LAST_NAMES)}"
        if template == 1:
            return f"{_pick(rng, _LAST_NAMES)} {_pick(rng, _FAMILY_SUFFIXES)}"
        if template == 2:
            return f"{_pick(rng, _TRADES)} {_pick(rng, _PLACES)}"
        if template == 3:
            return f"Groupe {_pick(rng, _LAST_NAMES)} {_pick(rng, _SECTORS)}"
        if template == 4:
            return f"{_pick(rng, _TRADES)} {_pick(rng, _LAST_NAMES)} {_pick(rng, _NAME_LEGAL_SUFFIXES)}"
        if template == 5:
            return f"{_pick(rng, _LAST_NAMES)} & {_pick(rng, _LAST_NAMES)}"
        if template == 6:
            root, suffix = _pick(rng, _COINED_ROOTS), _pick(rng, _COINED_SUFFIXES)
            return f"{root}{suffix}{_pick(rng, _COINED_TAILS)}"
        if template == 7:
            return f"{_pick(rng, _LAST_NAMES)} {_pick(rng, _SECTORS)}"
        if template == 8:
            return f"{_pick(rng, _TRADES)} {_pick(rng, _LAST_NAMES)} {_pick(rng, _PLACES)}"
        if template == 9:
            return f"{_pick(rng, _LAST_NAMES)}-{_pick(rng, _LAST_NAMES)} {_pick(rng, _SECTORS)}"
        if template == 10:
            return f"{_pick(rng, _SECTORS)} {_pick(rng, _PLACES)}"
        if template == 11:
            return f"Établissements {_pick(rng, _LAST_NAMES)}"
        if template == 12:
            first = _pick(rng, _FIRST_NAMES_M if rng.random() < 0.7 else _FIRST_NAMES_F)
            return f"{_pick(rng, _TRADES)} {first} {_pick(rng, _LAST_NAMES)}"
        return f"{_pick(rng, _TRADES)} {_pick(rng, _LAST_NAMES)}-{_pick(rng, _LAST_NAMES)}"

    def headcount(self) -> tuple[str, int]:
        """(INSEE headcount bracket label, representative headcount in that bracket)."""
        label, low, high = _weighted(self.rng, _HEADCOUNT_BRACKETS, _HEADCOUNT_CUM)
        if label == "5000+":
            # Long tail: mostly 5-8k, occasionally much larger.
            return label, min(100_000, int(low * self.rng.paretovariate(2.5)))
        return label, low if low == high else self.rng.randint(low, high)

    def revenue_history(self, headcount: int, years: list[int]) -> dict[int, Decimal]:
        """Yearly revenue in euros consistent with headcount (~80-200 k€ per employee) and a trend."""
        rng = self.rng
        if headcount <= 0:
            base = rng.uniform(30_000, 150_000)
        else:
            base = headcount * rng.uniform(80_000, 200_000)
        trend = rng.random()
        if trend < 0.45:  # growing
            drift = rng.uniform(0.02, 0.15)
        elif trend < 0.80:  # stable
            drift = rng.uniform(-0.03, 0.03)
        else:  # declining
            drift = rng.uniform(-0.12, -0.02)
        ordered = sorted(years)
        history: dict[int, Decimal] = {}
        value = base
        previous: int | None = None
        for year in ordered:
            if previous is not None:
                value *= (1 + drift) ** (year - previous) * (1 + rng.uniform(-0.03, 0.03))
            history[year] = Decimal(max(1_000, round(value)))
            previous = year
        return {year: history[year] for year in years}

    # ---------------------------------------------------------------- addresses

    def city(self) -> tuple[str, str]:
        """(postal code, city) of a real French city."""
        postal_code, city, _ = _weighted(self.rng, CITIES, _CITIES_CUM)
        return postal_code, city

    def street_line(self) -> str:
        rng = self.rng
        number = rng.randint(1, 80) if rng.random() < 0.8 else rng.randint(81, 250)
        r = rng.random()
        suffix = " bis" if r < 0.06 else " ter" if r < 0.08 else ""
        if rng.random() < 0.15:
            return f"{_pick(rng, _BUSINESS_ZONES)}, {number}{suffix} {_pick(rng, _ZONE_STREETS)}"
        return f"{number}{suffix} {_pick(rng, _STREET_NAMES)}"

    def address(self) -> dict[str, str]:
        rng = self.rng
        postal_code, city = self.city()
        line1 = self.street_line()
        r = rng.random()
        if r < 0.1:
            line2 = _pick(rng, _LINE2)
        elif r < 0.14:
            line2 = f"CS {rng.randint(10, 99_999):05d}"
        elif r < 0.17:
            line2 = f"BP {rng.randint(1, 999)}"
        else:
            line2 = ""
        return {"line1": line1, "line2": line2, "postal_code": postal_code, "city": city, "country": "FR"}

    # ---------------------------------------------------------------- people

    def person(self, health: bool | None = None) -> dict[str, str]:
        """civility, first_name, last_name, job_title (gender-consistent).

        ``health``: None mixes general (80 %) and health-care (20 %) job titles, True only health-care,
        False only general ones.
        """
        rng = self.rng
        female = rng.random() < 0.5
        if health is None:
            titles = _JOB_TITLES_HEALTH if rng.random() < 0.2 else _JOB_TITLES_GENERAL
        elif health:
            titles = _JOB_TITLES_HEALTH
        else:
            titles = _JOB_TITLES_GENERAL
        title = _pick(rng, titles)
        return {
            "civility": "Mme" if female else "M.",
            "first_name": _pick(rng, _FIRST_NAMES_F if female else _FIRST_NAMES_M),
            "last_name": _pick(rng, _LAST_NAMES),
            "job_title": title[1] if female else title[0],
        }

    @staticmethod
    def email(first: str, last: str, domain: str) -> str:
        """prenom.nom@domain, ascii-folded, lowercase, without spaces or apostrophes."""
        local = f"{_slug(first)}.{_slug(last)}".strip(".")
        while ".." in local:
            local = local.replace("..", ".")
        return f"{local or 'contact'}@{domain.lower()}"

    @staticmethod
    def domain_for(company_name: str) -> str:
        """A plausible, valid hostname for a company: "Martin & Fils SAS" -> "martin-fils.fr"."""
        words = []
        for raw in company_name.replace("&", " ").replace("/", " ").split():
            if raw in _NAME_LEGAL_SUFFIXES or raw in {"EI", "SCI", "SNC", "et", "Cie"}:
                continue
            word = _slug(raw)
            if word:
                words.append(word)
        label = "-".join(words)[:63].strip("-") or "entreprise"
        tld = ".com" if zlib.crc32(company_name.encode("utf-8")) % 7 == 0 else ".fr"
        return label + tld

    def mobile_phone(self) -> str:
        """French mobile number in E.164 (+336… / +337…)."""
        rng = self.rng
        return f"+33{_pick(rng, _MOBILE_PREFIXES)}{int(rng.random() * 10_000_000):07d}"

    def landline_phone(self, postal_code: str) -> str:
        """French landline number in E.164 whose zone (01-05) matches the postal code's region."""
        rng = self.rng
        zone = phone_zone_for_postal_code(postal_code)
        second = _pick(rng, _LANDLINE_SECOND[zone])
        return f"+33{zone}{second}{int(rng.random() * 10_000_000):07d}"

    @staticmethod
    def website(domain: str) -> str:
        return f"https://www.{domain}"

    def linkedin_url(self, first: str, last: str) -> str:
        slug = f"{_slug(first, '-')}-{_slug(last, '-')}".strip("-")
        if self.rng.random() < 0.8:
            slug += f"-{self.rng.getrandbits(32):08x}"
        return f"https://www.linkedin.com/in/{slug}"

    # ---------------------------------------------------------------- health

    def hospital_name(self, city: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return f"Centre hospitalier {_de(city)}"
        if r < 0.35:
            return f"CHU {_de(city)}"
        if r < 0.42:
            return f"Centre hospitalier intercommunal {_de(city)}"
        if r < 0.52:
            return f"Clinique {_pick(rng, _SAINTS)}"
        if r < 0.60:
            return f"Clinique {_pick(rng, _CLINIC_NAMES)}"
        if r < 0.66:
            return f"Polyclinique {_pick(rng, _CLINIC_NAMES)}"
        if r < 0.74:
            return f"Hôpital privé {_de(city)}"
        if r < 0.90:
            return f"EHPAD {_pick(rng, _EHPAD_NAMES)}"
        if r < 0.95:
            return f"Centre de rééducation {_de(city)}"
        return f"Groupe hospitalier {_pick(rng, _SAINTS)}"

    # ---------------------------------------------------------------- pipeline & activities

    def deal_title(self, company_name: str) -> str:
        rng = self.rng
        year = 2024 + int(rng.random() * 4)
        title = _pick(rng, _DEAL_TITLES).format(year=year, year2=year + 2)
        if rng.random() < 0.3:
            return f"{title} – {company_name}"
        return title

    def lost_reason(self) -> str:
        return _weighted(self.rng, _LOST_REASONS, _LOST_REASONS_CUM)

    def _slots(self) -> dict[str, str | int]:
        rng = self.rng
        return {
            "topic": _pick(rng, _TOPICS),
            "weekday": _pick(rng, _WEEKDAYS),
            "month": _pick(rng, _MONTHS),
            "n": rng.randint(2, 40),
            "pct": _pick(rng, (5, 8, 10, 12, 15)),
            "k": rng.randint(5, 250),
        }

    def activity_subject(self, kind: str) -> str:
        """Subject line of an activity; kind in call, email, meeting, visit, note."""
        try:
            templates = _ACTIVITY_SUBJECTS[kind]
        except KeyError:
            raise ValueError(f"unknown activity kind {kind!r}; expected one of {ACTIVITY_KINDS}")
        template = _pick(self.rng, templates)
        return template.format(**self._slots()) if "{" in template else template

    def activity_body(self, kind: str) -> str:
        """A few French sentences describing the activity."""
        try:
            sentences = _ACTIVITY_SENTENCES[kind]
        except KeyError:
            raise ValueError(f"unknown activity kind {kind!r}; expected one of {ACTIVITY_KINDS}")
        count = 1 + int(self.rng.random() * 3)
        chosen = self.rng.sample(sentences, count)
        return " ".join(chosen).format(**self._slots())

    def task_title(self) -> str:
        return _pick(self.rng, _TASK_TITLES)

    def source(self) -> str:
        return _weighted(self.rng, _SOURCES, _SOURCES_CUM)

    # ---------------------------------------------------------------- composites

    def company(self, years: list[int] | None = None) -> dict[str, object]:
        """A complete organisation record (plain dict) built from the generators above."""
        name = self.company_name()
        siren = self.siren()
        naf, naf_label = self.naf_code()
        bracket, staff = self.headcount()
        address = self.address()
        domain = self.domain_for(name)
        legal_form = self.legal_form()
        suffix = name.rsplit(" ", 1)[-1]
        if suffix in _NAME_LEGAL_SUFFIXES:  # "Transports Moreau SAS" is a SAS
            legal_form = suffix
        return {
            "name": name,
            "legal_form": legal_form,
            "siren": siren,
            "siret": self.siret(siren),
            "vat_number": self.vat_number(siren),
            "naf_code": naf,
            "naf_label": naf_label,
            "headcount_bracket": bracket,
            "headcount": staff,
            "revenue": self.revenue_history(staff, years or [2022, 2023, 2024]),
            "address": address,
            "phone": self.landline_phone(address["postal_code"]),
            "domain": domain,
            "website": self.website(domain),
            "source": self.source(),
        }

    def contact(self, domain: str, postal_code: str, health: bool | None = None) -> dict[str, str]:
        """A complete contact record (plain dict) for a company with the given domain and postal code."""
        person = self.person(health)
        first, last = person["first_name"], person["last_name"]
        person["email"] = self.email(first, last, domain)
        person["mobile"] = self.mobile_phone()
        person["phone"] = self.landline_phone(postal_code)
        return person
