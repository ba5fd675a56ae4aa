"""Where the synthetic offers are: French cities with their population (INSEE municipal populations,
rounded, c. 2021) and longitude/latitude of the centre. Boucle started in the Métropole Européenne de
Lille, so its communes weigh more (MEL_BOOST): the densest cluster is Lille–Roubaix–Tourcoing."""

from __future__ import annotations

MEL_BOOST = 8
# Share of the sites spread uniformly over mainland France's bounding box (the countryside).
BACKGROUND_SHARE = 0.04
FRANCE_BOX = (-4.5, 42.5, 7.8, 51.0)  # lon min, lat min, lon max, lat max

# (name, lon, lat, population, in the MEL)
CITIES: list[tuple[str, float, float, int, bool]] = [
    ("Lille", 3.0573, 50.6292, 236_000, True),
    ("Roubaix", 3.1746, 50.6916, 99_000, True),
    ("Tourcoing", 3.1610, 50.7236, 99_000, True),
    ("Villeneuve-d'Ascq", 3.1414, 50.6233, 62_000, True),
    ("Wattrelos", 3.2166, 50.7017, 41_000, True),
    ("Marcq-en-Barœul", 3.0960, 50.6711, 39_000, True),
    ("Lambersart", 3.0250, 50.6500, 28_000, True),
    ("Armentières", 2.8810, 50.6880, 25_000, True),
    ("Loos", 3.0160, 50.6130, 23_000, True),
    ("La Madeleine", 3.0710, 50.6550, 22_000, True),
    ("Croix", 3.1494, 50.6781, 21_000, True),
    ("Wasquehal", 3.1300, 50.6700, 21_000, True),
    ("Halluin", 3.1260, 50.7840, 21_000, True),
    ("Hem", 3.1880, 50.6560, 18_000, True),
    ("Mouvaux", 3.1380, 50.7030, 13_000, True),
    ("Lys-lez-Lannoy", 3.2150, 50.6710, 13_000, True),
    ("Seclin", 3.0290, 50.5490, 12_000, True),
    ("Dunkerque", 2.3770, 51.0343, 87_000, False),
    ("Valenciennes", 3.5235, 50.3570, 43_000, False),
    ("Arras", 2.7775, 50.2910, 42_000, False),
    ("Douai", 3.0800, 50.3714, 40_000, False),
    ("Lens", 2.8319, 50.4329, 32_000, False),
    ("Amiens", 2.2958, 49.8941, 134_000, False),
    ("Paris", 2.3522, 48.8566, 2_146_000, False),
    ("Marseille", 5.3698, 43.2965, 873_000, False),
    ("Lyon", 4.8357, 45.7640, 522_000, False),
    ("Toulouse", 1.4442, 43.6047, 504_000, False),
    ("Nice", 7.2620, 43.7102, 343_000, False),
    ("Nantes", -1.5536, 47.2184, 321_000, False),
    ("Montpellier", 3.8767, 43.6108, 302_000, False),
    ("Strasbourg", 7.7521, 48.5734, 287_000, False),
    ("Bordeaux", -0.5792, 44.8378, 262_000, False),
    ("Rennes", -1.6778, 48.1173, 222_000, False),
    ("Reims", 4.0317, 49.2583, 181_000, False),
    ("Toulon", 5.9280, 43.1242, 181_000, False),
    ("Saint-Étienne", 4.3872, 45.4397, 173_000, False),
    ("Le Havre", 0.1079, 49.4944, 166_000, False),
    ("Dijon", 5.0415, 47.3220, 159_000, False),
    ("Grenoble", 5.7245, 45.1885, 158_000, False),
    ("Angers", -0.5632, 47.4784, 157_000, False),
    ("Nîmes", 4.3601, 43.8367, 149_000, False),
    ("Clermont-Ferrand", 3.0870, 45.7772, 147_000, False),
    ("Le Mans", 0.1996, 48.0061, 144_000, False),
    ("Brest", -4.4861, 48.3904, 140_000, False),
    ("Tours", 0.6848, 47.3941, 137_000, False),
    ("Limoges", 1.2611, 45.8336, 130_000, False),
    ("Metz", 6.1757, 49.1193, 120_000, False),
    ("Perpignan", 2.8948, 42.6887, 120_000, False),
    ("Besançon", 6.0241, 47.2378, 119_000, False),
    ("Orléans", 1.9093, 47.9030, 117_000, False),
    ("Rouen", 1.0993, 49.4432, 114_000, False),
    ("Caen", -0.3707, 49.1829, 106_000, False),
    ("Mulhouse", 7.3359, 47.7508, 105_000, False),
    ("Nancy", 6.1844, 48.6921, 104_000, False),
    ("Guéret", 1.8718, 46.1715, 13_000, False),
]

# Where the search is measured: the Grand-Place of Roubaix (the densest cluster) and the countryside of
# the Creuse, 35 km from Guéret, where a 5 km circle holds almost nothing.
DENSE_POINT = ("Roubaix, Grand-Place", 3.1746, 50.6916)
SPARSE_POINT = ("Royère-de-Vassivière, Creuse", 1.9313, 45.8397)


def spread_km(population: int) -> float:
    """Standard deviation of a city's cluster: bigger cities sprawl further."""
    return 1.5 + 2.5 * (population / 100_000) ** 0.5


def weighted_cities() -> list[tuple[str, float, float, float, float, float]]:
    """(name, lon, lat, spread_km, low, high): [low, high) partitions [0, 1) by weight."""
    weights = [population * (MEL_BOOST if mel else 1) for _n, _x, _y, population, mel in CITIES]
    total = sum(weights)
    rows, low = [], 0.0
    for index, ((name, lon, lat, population, _mel), weight) in enumerate(zip(CITIES, weights, strict=True)):
        high = 1.0 if index == len(CITIES) - 1 else low + weight / total
        rows.append((name, lon, lat, spread_km(population), low, high))
        low = high
    return rows
