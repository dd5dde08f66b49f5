"""A labelled product CSV with categories of its own, to try `train.py --data` and to test it.

    .venv/bin/python ml/sample_data.py --rows 5000 --out products.csv [--tsv]

Eight categories that are not the worker's default three (codes, display names in a
`category_name` column), product words, brands, specs and ERP-style noise (upper case,
abbreviations, codes). Same seed and row count => same file.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

CATEGORIES = {
    "BEBIDAS": ("Bebidas", ["refrigerante", "suco", "agua mineral", "cerveja", "energetico", "cha gelado", "vinho tinto",
                            "agua de coco", "isotonico", "cafe soluvel"],
                ["Coca-Cola", "Del Valle", "Crystal", "Heineken", "Red Bull", "Leao", "Casillero", "Kero Coco"],
                ["lata 350ml", "garrafa 2L", "pet 600ml", "caixa 1L", "long neck 330ml", "pack 6 un"]),
    "LIMPEZA": ("Limpeza", ["detergente", "desinfetante", "agua sanitaria", "sabao em po", "amaciante", "limpa vidros",
                            "esponja", "multiuso", "alcool 70", "lustra moveis"],
                ["Ype", "Veja", "Omo", "Comfort", "Qboa", "Pinho Sol", "Scotch-Brite", "Brilhante"],
                ["500ml", "1L", "2L", "5L", "pacote 1kg", "refil 900ml", "c/ 3 un"]),
    "PAPELARIA": ("Papelaria", ["caderno", "caneta esferografica", "lapis grafite", "borracha", "marca texto",
                                "papel sulfite", "grampeador", "cola bastao", "pasta catalogo", "apontador"],
                  ["Tilibra", "BIC", "Faber-Castell", "Stabilo", "Chamex", "Pritt", "Dello", "Acrimet"],
                  ["A4", "10 materias", "c/ 12 un", "500 folhas", "azul", "200 folhas", "26/6"]),
    "BRINQUEDOS": ("Brinquedos", ["boneca", "carrinho", "quebra-cabeca", "jogo de tabuleiro", "bola de futebol",
                                  "pelucia", "blocos de montar", "massinha", "pista", "patinete"],
                   ["Estrela", "Hot Wheels", "Grow", "Lego", "Mattel", "Play-Doh", "Candide", "Xalingo"],
                   ["3+ anos", "500 pecas", "infantil", "c/ 4 potes", "rosa", "1:64", "aro 12"]),
    "PET": ("Pet Shop", ["racao", "areia sanitaria", "petisco", "coleira", "comedouro", "arranhador", "shampoo pet",
                         "tapete higienico", "brinquedo mordedor", "antipulgas"],
            ["Pedigree", "Whiskas", "Golden", "Premier", "Pipicat", "Chalesco", "Frontline", "Dog Chow"],
            ["caes adultos 15kg", "gatos 10,1kg", "4kg", "c/ 30 un", "porte medio", "filhotes 1kg"]),
    "JARDIM": ("Jardim", ["mangueira", "vaso", "terra vegetal", "adubo", "semente", "regador", "tesoura de poda",
                          "cortador de grama", "aspersor", "substrato"],
               ["Tramontina", "Vitaplan", "Forth", "Nutriplan", "Isla", "Trapp", "Japi", "Plasvale"],
               ["20m", "30cm", "10kg", "5L", "NPK 10-10-10", "1200W", "100g"]),
    "ELETRODOMESTICOS": ("Eletrodomésticos", ["liquidificador", "geladeira", "micro-ondas", "air fryer", "ventilador",
                                              "aspirador de po", "cafeteira", "batedeira", "ferro de passar",
                                              "lavadora"],
                         ["Electrolux", "Brastemp", "Mondial", "Philco", "Arno", "Britania", "Oster", "Consul"],
                         ["110V", "220V", "bivolt", "20L", "4L", "1000W", "frost free 375L", "12kg"]),
    "HIGIENE": ("Higiene Pessoal", ["shampoo", "condicionador", "sabonete", "creme dental", "desodorante",
                                    "papel higienico", "escova de dentes", "fio dental", "absorvente", "protetor solar"],
                ["Dove", "Colgate", "Rexona", "Neve", "Pantene", "Oral-B", "Always", "Nivea"],
                ["90g", "400ml", "c/ 12 rolos", "150ml", "FPS 50", "macia", "aerosol"]),
}
ABBREVIATIONS = {"caixa": "cx", "garrafa": "gf", "pacote": "pct", "unidades": "un", "infantil": "inf"}


def product(rng: random.Random, code: str) -> dict:
    name_pt, words, brands, specs = CATEGORIES[code]
    word, brand = rng.choice(words), rng.choice(brands)
    parts = [word] + rng.sample(specs, k=rng.randint(0, 2))
    if rng.random() < 0.3:
        parts.insert(1, brand)
    name = " ".join(parts)
    if rng.random() < 0.35:
        name = name.upper()
    if rng.random() < 0.2:
        name = " ".join(ABBREVIATIONS.get(w, w) for w in name.split())
    if rng.random() < 0.5:  # ERP codes: most rows of a large file are distinct
        name += f" REF{rng.randint(100, 999999)}"
    description = rng.choice(["", "", f"{word} {brand}", f"produto {name_pt.lower()} de qualidade"])
    return {"name": name, "brand": brand if rng.random() < 0.7 else "", "description": description,
            "category": code, "category_name": name_pt}


def write(path: Path, rows: int, seed: int = 7, tsv: bool = False) -> None:
    rng = random.Random(seed)
    codes = list(CATEGORIES)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, ["name", "brand", "description", "category", "category_name"],
                             delimiter="\t" if tsv else ",")
        out.writeheader()
        for i in range(rows):
            out.writerow(product(rng, codes[i % len(codes)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tsv", action="store_true", help="tab-separated instead of comma-separated")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    write(args.out, args.rows, args.seed, args.tsv)
    print(f"wrote {args.rows} rows, {len(CATEGORIES)} categories to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
