"""Synthetic but realistic Portuguese ERP product catalog (seeded, deterministic).

    .venv/bin/python ml/catalog.py --sample 20          # print a few products
    .venv/bin/python ml/catalog.py --stats              # counts per split

Products are composed from real-world product types, brands, vehicle models,
specs and units, then passed through ERP-style noise: upper/lower case,
abbreviations (DIANT., C/, P/, LD/LE), missing accents, units written in many
ways (50KG, 2,5 mm, 18L, 1200VA), part numbers, stray codes, typos, word
order, truncation. Many product families exist on purpose in more than one
category (cables, batteries, filters, lamps, paints, tools, switches, sensors,
pumps, electrical parts, hoses, screws, locks...), so the model must read the
context, not one word.

Honest splits: brands and vehicle models are assigned to exactly one of
train / val / test by a stable hash of their name, and some product types are
held out entirely (`holdout="val"` or `"test"`): val and test products are
built only from vocabulary the training split never sees (besides the shared
product-type words), so their scores estimate performance on new brands,
new vehicles and new kinds of products.

The only randomness is `random.Random(seed)`; nothing depends on
PYTHONHASHSEED, so the same seed gives the same catalog on every machine.
"""
from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import re
import sys
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from contract import LABELS, SEED, compose_text  # noqa: E402

AUTO, INFO, MC = LABELS
SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 4000, "val": 1000, "test": 1500}  # per category


@dataclass(frozen=True)
class Product:
    category: str
    name: str
    brand: str
    description: str
    split: str
    ptype: str  # product type key, for error analysis
    novelty: str = ""  # "type": held-out product type; "name": held-out name variant; "" otherwise

    @property
    def text(self) -> str:
        return compose_text(self.name, self.brand, self.description)


@dataclass(frozen=True)
class PType:
    category: str
    key: str
    names: tuple[str, ...]
    slots: tuple[str, ...]
    brands: tuple[str, ...]
    vehicle: float  # probability of a vehicle application (AUTOPECAS)
    holdout: str | None
    descs: tuple[str, ...]


def vocab_split(word: str) -> str:
    """Stable split of a vocabulary item (brand, vehicle model): ~60/20/20."""
    h = zlib.crc32(word.lower().encode("utf-8")) % 10
    return "train" if h < 6 else ("val" if h < 8 else "test")


def name_split(name: str) -> str:
    """Stable split of a product-name variant: ~84/8/8.

    Fewer than brands: a held-out synonym is also a word the shipped model
    never learns, so this trades some blind spots for an honest estimate.
    """
    h = zlib.crc32(("name:" + name.lower()).encode("utf-8")) % 100
    return "train" if h < 84 else ("val" if h < 92 else "test")


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

def _opts(s: str) -> list[str]:
    return [o.strip() for o in s.split("|")]


COLORS = "preto|branco|cinza|azul|vermelho|verde|amarelo|prata|bege|marrom"

# (make variants, models)
VEHICLES = [
    ("VW|Volkswagen|VW", "Gol|Gol G4|Gol G5|Gol G6|Voyage|Saveiro|Fox|CrossFox|Polo|Virtus|Up|Golf|Jetta|"
     "T-Cross|Nivus|Amarok|Kombi|Parati|Santana|Passat|SpaceFox|Tiguan|Taos"),
    ("Fiat", "Uno|Uno Mille|Palio|Palio Fire|Siena|Grand Siena|Strada|Toro|Argo|Cronos|Mobi|Idea|Punto|"
     "Doblo|Fiorino|Palio Weekend|Bravo|Linea|Pulse|Fastback|Ducato|Tempra"),
    ("GM|Chevrolet|Chevrolet", "Onix|Onix Plus|Prisma|Celta|Corsa|Corsa Classic|Cobalt|Spin|Cruze|S10|"
     "Tracker|Montana|Agile|Astra|Vectra|Zafira|Meriva|Kadett|Monza|Blazer|Omega"),
    ("Ford", "Ka|Fiesta|Focus|EcoSport|Ranger|Fusion|Escort|Courier|Territory|Maverick|Transit"),
    ("Renault", "Sandero|Logan|Kwid|Duster|Clio|Megane|Fluence|Captur|Oroch|Master|Stepway|Scenic"),
    ("Hyundai", "HB20|HB20S|Creta|Tucson|ix35|i30|Azera|HR|Santa Fe"),
    ("Toyota", "Corolla|Hilux|Etios|Yaris|SW4|Corolla Cross|RAV4|Bandeirante"),
    ("Honda", "Civic|Fit|City|HR-V|WR-V|CR-V|Accord"),
    ("Nissan", "March|Versa|Kicks|Sentra|Frontier|Livina|Tiida"),
    ("Peugeot", "206|207|208|2008|307|308|3008|Partner|Boxer|Hoggar"),
    ("Citroen|Citroën", "C3|C4|C4 Cactus|Aircross|Xsara Picasso|Jumper|C4 Lounge"),
    ("Jeep", "Renegade|Compass|Commander|Cherokee"),
    ("Mitsubishi", "L200|L200 Triton|Pajero|Pajero Sport|ASX|Outlander|Lancer"),
    ("Kia", "Sportage|Cerato|Picanto|Soul|Sorento|Bongo"),
    ("Mercedes|MB", "Sprinter|Accelo|Atego|Classe A|Classe C"),
    ("Iveco", "Daily|Tector"),
]
ENGINES = _opts("1.0|1.0 8V|1.0 12V|1.0 16V|1.0 Turbo|1.0 TSI|1.0 MPI|1.3|1.3 16V|1.4|1.4 8V|1.4 TSI|1.5|"
                "1.5 16V|1.6|1.6 8V|1.6 16V|1.8|1.8 8V|1.8 16V|2.0|2.0 16V|2.0 Turbo|2.2 Diesel|2.8 Diesel|"
                "3.0 Diesel|2.4 16V|1.2 Turbo")
FUELS = _opts("Flex|Gasolina|Diesel|Alcool|Flex|Gas.")

# Each type: category, key, names, slots, brands, vehicle-probability, holdout, description snippets.
# Slot syntax: "a|b|c" picks one; a leading "?" makes the slot optional.
_T: list[tuple] = [
    # ------------------------------------------------------------ AUTOPECAS
    (AUTO, "pastilha_freio", "pastilha de freio|pastilha freio|jogo de pastilhas de freio|jogo pastilha freio|pastilhas de freio",
     ["dianteira|traseira|dianteira|diant.", "?sistema teves|sistema bosch|sistema varga|sistema akebono|com alarme|sem alarme|ceramica|semi metalica"],
     "Cobreq|Fras-le|Jurid|Bosch|TRW|Syl|Ecopads|Willtec|Hipper Freios|Bendix|Ferodo|Fras-le Pro|Akebono|Lonaflex", 0.9, None,
     "Jogo com 4 pastilhas|Inclui sensor de desgaste|Baixo nivel de ruido|Composto ceramico"),
    (AUTO, "disco_freio", "disco de freio|disco freio|par de disco de freio|disco de freio ventilado|disco de freio solido",
     ["dianteiro|traseiro|dianteiro", "?ventilado|solido|ranhurado", "?{mm}mm|{n} furos|4 furos|5 furos"],
     "Fremax|Hipper Freios|TRW|Bosch|Cobreq|Varga|Brembo|Nakata|Ferodo", 0.9, None,
     "Par de discos|Venda por par|Acabamento anticorrosivo"),
    (AUTO, "lona_freio", "lona de freio|sapata de freio|jogo de sapatas de freio|lona freio",
     ["traseira|tras.", "?com rebite|colada|{mm}mm"], "Fras-le|Cobreq|Bendix|Lonaflex|Jurid|Syl", 0.9, None, ""),
    (AUTO, "cilindro_roda", "cilindro de roda|cilindro roda|cilindro mestre|cilindro mestre de freio|burrinho de freio",
     ["?traseiro|dianteiro|LD|LE", "?{mm}mm|3/4 pol|7/8 pol"], "TRW|Bosch|Controil|Varga|Cobreq|ATE", 0.9, None, ""),
    (AUTO, "flexivel_freio", "flexivel de freio|mangueira de freio|flexivel freio|tubo flexivel de freio",
     ["dianteiro|traseiro|dianteiro LD|dianteiro LE", "?{mm}mm"], "TRW|Bosch|Controil|Varga|Fremax|Cobreq", 0.9, None, ""),
    (AUTO, "amortecedor", "amortecedor|amortecedor de suspensao|par de amortecedores|amortecedor pressurizado|amortecedor convencional",
     ["dianteiro|traseiro|dianteiro|tras.", "?LD|LE|lado direito|lado esquerdo|par", "?pressurizado|a gas|turbogas|hidraulico|convencional"],
     "Cofap|Monroe|Nakata|Kayaba|Sachs|Axios|Cofap Turbogas|Monroe Gas-Matic|Tenneco|Corven", 0.95, None,
     "Amortecedor pressurizado a gas|Venda por unidade|Garantia contra vazamento"),
    (AUTO, "kit_amortecedor", "kit amortecedor|kit batente coxim|kit batente e coifa|coxim do amortecedor|batente do amortecedor|kit reparo amortecedor",
     ["dianteiro|traseiro", "?completo|com rolamento|sem rolamento"], "Axios|Sampel|Borflex|Monroe|Cofap|Nakata|Amortex", 0.9, None, ""),
    (AUTO, "mola", "mola de suspensao|mola helicoidal|jogo de molas|mola suspensao",
     ["dianteira|traseira", "?esportiva|original|reforcada"], "Fabrini|Cofap|Eibach|Mola Brasil|Suspentec", 0.9, None, ""),
    (AUTO, "bandeja", "bandeja de suspensao|bandeja|braco oscilante|balanca de suspensao|braco de controle",
     ["dianteira|inferior|dianteira inferior", "?LD|LE|lado motorista|lado passageiro", "?com pivo|sem pivo|com buchas"],
     "Nakata|Viemar|TRW|Perfect|Axios|Sampel|Moog", 0.95, None, ""),
    (AUTO, "pivo", "pivo de suspensao|pivo|pivo inferior|pivo superior|terminal de direcao|terminal direcao|barra axial|barra de direcao",
     ["?LD|LE|direito|esquerdo", "?dianteiro|inferior|superior"], "Nakata|Viemar|TRW|Perfect|Moog|Axios", 0.95, None,
     "Item de seguranca|Substituir em pares"),
    (AUTO, "bieleta", "bieleta|bieleta da barra estabilizadora|link da barra estabilizadora|bieleta estabilizadora",
     ["dianteira|traseira", "?LD|LE|par"], "Nakata|Viemar|TRW|Perfect|Axios|Moog", 0.95, "test", ""),
    (AUTO, "bucha", "bucha da bandeja|bucha barra estabilizadora|bucha do feixe de mola|kit buchas suspensao|bucha do braco",
     ["?dianteira|traseira", "?poliuretano|borracha"], "Sampel|Borflex|Axios|Mobensani|Nakata", 0.95, None, ""),
    (AUTO, "rolamento_roda", "rolamento de roda|cubo de roda|rolamento roda|cubo de roda com rolamento|rolamento do cubo",
     ["dianteiro|traseiro|dianteiro|tras.", "?com ABS|sem ABS|com sensor"], "SKF|FAG|NSK|IRB|Nakata|Timken|NTN|Koyo", 0.9, None, ""),
    (AUTO, "embreagem", "kit embreagem|kit de embreagem|embreagem completa|plato de embreagem|disco de embreagem|rolamento de embreagem|atuador de embreagem",
     ["?com rolamento|completo|sem rolamento|com atuador", "?{mm}mm"], "LuK|Sachs|Valeo|Eaton|Schaeffler|Exedy|Phc Valeo", 0.95, None,
     "Kit com plato, disco e rolamento"),
    (AUTO, "cabo_embreagem", "cabo de embreagem|cabo embreagem|cabo do acelerador|cabo acelerador|cabo de freio de mao|cabo do freio de estacionamento|cabo do velocimetro|cabo de abertura do capo",
     ["?{n}mm|{cm}cm|com regulagem|auto regulavel"], "Cofle|Dyna|Teleflex|Fremax|Kitcar|Universal Automotive", 0.9, None, ""),
    (AUTO, "cabo_vela", "cabo de vela|jogo de cabos de vela|cabos de ignicao|jogo cabo vela|cabo de ignicao",
     ["?silicone|7mm|8mm|{n} cabos"], "NGK|Bosch|Magneti Marelli|Delphi|Valeo|Tecnoflex|Mte-Thomson", 0.95, None,
     "Jogo com 4 cabos|Alta resistencia a temperatura"),
    (AUTO, "vela", "vela de ignicao|vela ignicao|jogo de velas|velas de ignicao|vela iridium",
     ["?iridium|platina|resistiva|cobre|niquel", "?{n} eletrodos|BKR6E|BP5ES|BKR7ESB|FR7DC|LZKAR7A"],
     "NGK|Bosch|Denso|Champion|Magneti Marelli|Autolite|Brisk", 0.9, None, "Jogo com 4 velas"),
    (AUTO, "bobina", "bobina de ignicao|bobina ignicao|bobina|bobina de ignicao plug top",
     ["?{n} saidas|4 saidas|individual|caneta"], "Bosch|Magneti Marelli|Delphi|NGK|Denso|Valeo|Mte-Thomson|Walbro", 0.95, None, ""),
    (AUTO, "bateria_auto", "bateria automotiva|bateria|bateria carro|bateria de partida|bateria selada automotiva|bateria caminhao|bateria veicular|bateria para carro|bateria de carro|bateria automotiva selada|bateria para caminhonete|bateria EFB start-stop|bateria AGM automotiva",
     ["40Ah|45Ah|48Ah|50Ah|55Ah|60Ah|60Ah|65Ah|70Ah|75Ah|80Ah|90Ah|100Ah|150Ah|{ahauto}Ah|{ahauto} amperes", "?12V|12 volts", "?{bcode}|{bcode}|{cca}A CCA|polo positivo direito|polo positivo esquerdo|livre de manutencao|free|caixa alta|caixa baixa"],
     "Moura|Heliar|Zetta|Bosch|ACDelco|Route|Pioneiro|Cral|Tudor|Baterax|Freedom|Erbs|Jupiter", 0.45, None,
     "Bateria livre de manutencao|Garantia de 18 meses|Tecnologia prata-calcio|Nao acompanha casco"),
    (AUTO, "filtro_oleo", "filtro de oleo|filtro oleo|filtro de oleo do motor|filtro lubrificante|filtro oleo motor",
     ["?blindado|refil|elemento", "?PSL{n}|W{n}|PH{n}|OC{n}|WO{n}|M{n}"], "Tecfil|Mann|Fram|Wega|Mahle|Bosch|Vox|Purolator|Hengst", 0.9, None, ""),
    (AUTO, "filtro_ar", "filtro de ar|filtro ar motor|filtro de ar do motor|elemento filtro de ar|filtro de ar esportivo",
     ["?ARL{n}|CA{n}|C{n}|FAP{n}|JFA{n}", "?lavavel|conico|original"], "Tecfil|Mann|Fram|Wega|Mahle|Bosch|Vox|Purolator|K&N", 0.9, None, ""),
    (AUTO, "filtro_cabine", "filtro de cabine|filtro ar condicionado|filtro de ar condicionado|filtro do ar condicionado|filtro antipolen",
     ["?com carvao ativado|carvao|antibacteriano|simples"], "Tecfil|Mann|Fram|Wega|Mahle|Bosch|Vox|Hengst", 0.9, None, ""),
    (AUTO, "filtro_combustivel", "filtro de combustivel|filtro combustivel|filtro de gasolina|filtro de diesel|filtro separador de agua",
     ["?GI{n}|PSC{n}|G{n}|WK{n}", "?metalico|plastico|flex|diesel"], "Tecfil|Mann|Fram|Wega|Mahle|Bosch|Vox|Racor|Parker", 0.9, None, ""),
    (AUTO, "oleo_motor", "oleo de motor|oleo motor|oleo lubrificante motor|lubrificante para motor|oleo sintetico|oleo semissintetico",
     ["5W30|5W40|10W40|15W40|20W50|0W20|5W20|SAE 40", "?sintetico|semissintetico|mineral|API SN|API SP|dexos", "1L|1 litro|4L|lata 1L|balde 20L|galao 5L"],
     "Lubrax|Mobil|Shell Helix|Castrol|Ipiranga|Petronas|Motul|Havoline|Valvoline|Elaion|Selenia", 0.35, None,
     "Oleo para motores a gasolina, etanol e flex|Atende a especificacao do fabricante"),
    (AUTO, "fluido", "fluido de freio|fluido freio|aditivo para radiador|aditivo radiador|fluido de arrefecimento|fluido de direcao hidraulica|oleo de cambio|fluido ATF",
     ["?DOT 3|DOT 4|DOT 5.1|concentrado|pronto para uso|rosa|verde|orgânico|75W90|80W90", "500ml|1L|200ml|1 litro|5L"],
     "Bosch|Varga|TRW|Paraflu|Tirreno|Radiex|Lubrax|Mobil|Castrol|Koube|Wurth", 0.3, None, ""),
    (AUTO, "lampada_farol", "lampada farol|lampada|lampada automotiva|lampada do farol|lampada farol milha|lampada super branca|kit lampada xenon|kit ultra led farol",
     ["H1|H3|H4|H7|H8|H11|H16|H27|HB3|HB4|HB3 9005|H4 60/55W", "?12V 55W|12V 60/55W|12V|24V 70W|55W|100W", "?super branca|8000K|6000K|efeito xenon|halogena|vision|crystal vision|night breaker|standard"],
     "Philips|Osram|GE|Hella|Tech One|Starlux|Sinoculos|Philips Automotive|Osram Auto|Narva|Multilaser Auto", 0.4, None,
     "Par de lampadas|Venda por unidade|Luz mais branca"),
    (AUTO, "lampada_pingo", "lampada pingo|lampada lanterna|lampada de freio|lampada de re|lampada de seta|lampada torpedo|lampada placa",
     ["T10|T5|1 polo|2 polos|67|1141|1034|1156|1157|W5W|P21W|P21/5W|BA15S", "?12V 5W|12V 21/5W|12V 21W|12V|24V|LED"],
     "Philips|Osram|GE|Hella|Tech One|Starlux|Narva|Autopoli", 0.4, None, "Caixa com 10 unidades"),
    (AUTO, "farol", "farol|farol dianteiro|lanterna traseira|farol de milha|farol auxiliar|lanterna|pisca seta|lanterna de neblina",
     ["LD|LE|lado direito|lado esquerdo|par", "?cromado|mascara negra|fume|cristal|bicolor|com LED"],
     "Arteb|Fitam|Valeo|Orgus|Cibie|DEPO|Hella|Magneti Marelli|Nino Farois", 0.95, None, ""),
    (AUTO, "retrovisor", "retrovisor|espelho retrovisor|retrovisor externo|lente do retrovisor|capa do retrovisor",
     ["LD|LE|lado direito|lado esquerdo", "?eletrico|manual|com pisca|com controle|sem controle"], "Metagal|Fitam|Cofran|Arteb|Sinal Retrovisores", 0.95, None, ""),
    (AUTO, "palheta", "palheta limpador|palheta do limpador de para-brisa|palheta|limpador de para-brisa|par de palhetas|palheta traseira",
     ['14"|16"|18"|19"|20"|21"|22"|24"|26"|{pol} pol', "?silicone|grafite|aerotwin|slim|convencional|original"],
     "Bosch|Dyna|Valeo|Tech One|Vetor|Kitcar|Tric", 0.8, None, ""),
    (AUTO, "correia_dentada", "correia dentada|kit correia dentada|correia do comando|kit correia dentada com tensor|tensor da correia dentada|polia tensora",
     ["?{n} dentes|com tensor|com bomba d'agua|CT{n}", "?reforcada"], "Gates|Dayco|Continental|Contitech|INA|SKF|Goodyear|Bando", 0.95, None,
     "Trocar a cada 50.000 km"),
    (AUTO, "correia_alternador", "correia do alternador|correia poly-v|correia auxiliar|correia do ar condicionado|correia micro v|correia multi v",
     ["{n}PK{len}|6PK1035|4PK855|5PK1225|6PK1600", "?com ar|sem ar|direcao hidraulica"], "Gates|Dayco|Continental|Contitech|Goodyear|Bando", 0.9, None, ""),
    (AUTO, "bomba_agua_auto", "bomba d'agua|bomba de agua|bomba dagua motor|bomba d'agua do motor|bomba de agua automotiva",
     ["?com junta|com carcaca|aluminio|com polia", "?UB{n}|{n}"], "Urba|Indisa|Nakata|SKF|Mahle|Schadek|Ecopump|Bosch|Cofap Bombas", 0.95, None,
     "Acompanha junta de vedacao"),
    (AUTO, "bomba_combustivel", "bomba de combustivel|bomba combustivel|bomba de gasolina|refil bomba de combustivel|bomba eletrica de combustivel|bomba de combustivel completa",
     ["?{bar} bar|3 bar|4 bar|flex|refil|com boia|completa", "?12V"], "Bosch|Delphi|Magneti Marelli|VDO|Gauss|Walbro|TSA|Marwal", 0.95, None, ""),
    (AUTO, "bomba_oleo", "bomba de oleo|bomba oleo|bomba de oleo do motor|bomba de direcao hidraulica|bomba hidraulica",
     ["?com pescador|completa|com engrenagem"], "Mahle|Schadek|Metal Leve|Urba|TRW|Sabo", 0.95, None, ""),
    (AUTO, "radiador", "radiador|radiador de agua|radiador do motor|condensador ar condicionado|intercooler|reservatorio de agua radiador",
     ["?com ar|sem ar|automatico|manual|aluminio|brasado|mecanico", "?{mm}mm"], "Valeo|Visconde|Notus|Denso|Magneti Marelli|Modine|Behr|Radiex", 0.95, None, ""),
    (AUTO, "valvula_termostatica", "valvula termostatica|termostato|valvula termostatica com carcaca|carcaca da valvula termostatica",
     ["?{temp} graus|{temp}C|com junta|com sensor"], "Wahler|MTE-Thomson|Mahle|VDO|Termostatos Brasil", 0.95, None, ""),
    (AUTO, "sensor_auto", "sensor de temperatura|sensor de rotacao|sonda lambda|sensor de oxigenio|sensor ABS|sensor de velocidade|sensor de fase|sensor MAP|sensor de detonacao|sensor de nivel de combustivel|sensor de posicao da borboleta|sensor de pressao do oleo|sensor de estacionamento",
     ["?do motor|da agua|da roda|dianteiro|traseiro|pre catalisador|pos catalisador", "?{n} fios|{n} pinos|4 fios"],
     "Bosch|MTE-Thomson|Delphi|NGK|VDO|Magneti Marelli|3-RHO|Gauss|DS|Denso|Ntk", 0.95, None, "Conector com trava"),
    (AUTO, "interruptor_auto", "interruptor de luz de freio|interruptor do vidro eletrico|interruptor pressao do oleo|interruptor luz de re|chave de seta|interruptor de pedal|botao do vidro eletrico|chave de ignicao|comutador de ignicao|interruptor do pisca alerta",
     ["?{n} pinos|{n} terminais|simples|duplo|LD|LE|motorista"], "3-RHO|DS|Schadek|MTE-Thomson|Kostal|Marflex|Universal|Original Parts", 0.95, None, ""),
    (AUTO, "rele_fusivel", "rele auxiliar|rele|rele de partida|rele da ventoinha|rele do pisca|rele da bomba de combustivel|fusivel laminado|fusivel lamina|kit fusivel lamina|fusivel mini lamina|caixa de fusiveis",
     ["?12V|24V", "?{amp}A|4 terminais|5 terminais|40A|30A|mini|medio|maxi|kit 10"], "DNI|Bosch|3-RHO|Hella|Tiger|Yazaki|Mte-Thomson|Gauss", 0.5, None, ""),
    (AUTO, "alternador", "alternador|motor de partida|motor de arranque|regulador de voltagem|induzido motor de partida|automatico de partida|bendix motor de partida",
     ["?12V|24V", "?{amp}A|90A|120A|1.4kW|2.0kW"], "Bosch|Valeo|Delco Remy|Prestolite|Mitsubishi Electric|Wapsa|Unipoint", 0.95, None,
     "Recondicionado|Novo, nao e recondicionado|Base de troca"),
    (AUTO, "junta", "junta do cabecote|jogo de juntas|junta da tampa de valvulas|junta do carter|junta do coletor|junta homocinetica|jogo de juntas do motor|retentor do comando|retentor do virabrequim|retentor de valvula|anel de vedacao do carter",
     ["?completo|superior|inferior|com retentores|em aco|metal", "?{mm}mm"], "Sabo|Taranto|Elring|Victor Reinz|Corteco|Vedamotors|Bastos|Spicer", 0.95, None, ""),
    (AUTO, "motor_interno", "pistao|jogo de pistoes|jogo de aneis|aneis de segmento|bronzina de biela|bronzina de mancal|jogo de bronzinas|valvula de admissao|valvula de escape|tucho|comando de valvulas|cabecote|virabrequim|biela",
     ["?STD|0,25|0,50|standard|medida 0,50|sobremedida", "?com pino|{n} unidades"], "Metal Leve|Mahle|KS|Cofap|Riosulense|Kolbenschmidt|Tupy|Sinter", 0.95, None, ""),
    (AUTO, "coxim", "coxim do motor|coxim do cambio|calco do motor|coxim motor|suporte do motor|coxim da transmissao",
     ["?LD|LE|dianteiro|traseiro|superior|inferior", "?hidraulico"], "Sampel|Borflex|Axios|Monroe|Mobensani|Nakata", 0.95, "val", ""),
    (AUTO, "homocinetica", "homocinetica|junta homocinetica|kit homocinetica|semi eixo|trizeta|coifa da homocinetica|kit coifa homocinetica",
     ["?lado roda|lado cambio|{n} estrias|com ABS|sem ABS", "?LD|LE"], "GKN|Spicer|Nakata|Vetor|Albarus|Cofap|SKF", 0.95, None, ""),
    (AUTO, "mangueira_auto", "mangueira do radiador|mangueira superior do radiador|mangueira inferior|mangueira de combustivel|mangueira da direcao hidraulica|mangueira do respiro|mangueira do intercooler",
     ["?superior|inferior|{mm}mm|1 metro", "?com ar|sem ar"], "Gates|Dayco|Borflex|Sampel|Mangueiras Brasil|Tecnoflex", 0.95, None, ""),
    (AUTO, "tinta_auto", "tinta automotiva|tinta poliester automotiva|verniz automotivo|verniz PU automotivo|primer PU automotivo|massa plastica automotiva|massa rapida automotiva|tinta spray automotiva|primer automotivo|thinner automotivo|catalisador para verniz",
     ["?{colorauto}", "?900ml|3,6L|400ml|1L|450ml|5L|galao", "?cor original|alto solidos|secagem rapida|bicomponente|{n}:1"],
     "Lazzuril|Wanda|Maxi Rubber|Mundial Prime|Maza|PPG|Sherwin-Williams Automotive|Renner Automotive|Colorgin Automotivo|Sayerlack Auto|Farben|Anjo Automotivo", 0.05, None,
     "Uso automotivo|Para repintura automotiva|Aplicar com pistola|Para funilaria e pintura"),
    (AUTO, "ferramenta_auto", "chave de roda|chave de roda cruz|macaco hidraulico|macaco jacare|macaco sanfona|chave de vela|cavalete automotivo|extrator de filtro de oleo|caneta de polaridade|scanner automotivo|chave de fenda de impacto|saca polia|compressor de mola|elevador automotivo|torquimetro",
     ["?{ton}T|2 toneladas|3 toneladas|{mm}mm|17 x 19 x 21 x 23mm|OBD2|12V|universal|bluetooth", "?para carro|automotivo|para oficina|para caminhonete"],
     "Bovenau|Vonder|Gedore|Waft|Raven|Bremen|Worker|Tramontina Pro|Lee Tools|Planatc|Mecanica Brasil", 0.2, None,
     "Ideal para oficinas mecanicas|Ferramenta automotiva"),
    (AUTO, "cabo_bateria", "cabo de bateria|cabo chupeta|cabo auxiliar de partida|cabo de transferencia de carga|terminal de bateria|polo de bateria",
     ["?{sqmm}mm|300A|500A|1000A", "?{m}m|2,5m|3 metros", "?com garras|jacare|positivo|negativo"],
     "Tramontina Pro|Vonder|DNI|Kitcar|Multilaser Auto|Hella|Bovenau", 0.15, None, "Para partida auxiliar de veiculos"),
    (AUTO, "chicote", "chicote eletrico|chicote do farol|chicote da porta|plug do sensor|conector do chicote|soquete da lanterna|chicote da lanterna traseira|reparo do chicote",
     ["?{n} vias|{n} fios|LD|LE"], "Ds|Gauss|Mte-Thomson|3-RHO|Tc Chicotes|Universal|Kitcar", 0.9, None, ""),
    (AUTO, "ventoinha", "eletroventilador|motor da ventoinha|ventoinha do radiador|resistencia da ventoinha|motor do ventilador interno|ventilador do radiador|motor do limpador|motor do vidro eletrico",
     ["?com ar|sem ar|12V|{n} pas|LD|LE"], "Bosch|Valeo|Gauss|Mte-Thomson|Spal|Mabuchi|Denso", 0.95, None, ""),
    (AUTO, "buzina", "buzina|buzina caracol|buzina disco|buzina eletrica|par de buzinas|buzina a ar",
     ["12V|24V|12 volts", "?grave|aguda|par|{db}dB"], "Fiamm|Hella|Buzzer|Bosch|Tiger|Stell|Autoforte", 0.4, "test", ""),
    (AUTO, "escapamento", "escapamento|silencioso traseiro|silencioso intermediario|catalisador|abafador|tubo de escapamento|ponteira de escapamento|coletor de escape",
     ["?traseiro|intermediario|dianteiro|esportivo|cromado|inox"], "Mastra|Tuper|Escapamentos Sao Paulo|Fortuna|Walker|Marcon", 0.95, None, ""),
    (AUTO, "pneu", "pneu|pneu aro {aro}|camara de ar|pneu remold|pneu radial",
     ["175/70 R14|185/65 R15|195/55 R16|205/55 R16|175/65 R14|165/70 R13|215/65 R16|225/45 R17|265/70 R16|aro {aro}", "?{n}H|{n}T|84T|88H|91V|XL|runflat"],
     "Pirelli|Goodyear|Michelin|Bridgestone|Continental|Firestone|Dunlop|Westlake|Linglong|Kumho|BFGoodrich|Hankook", 0.3, None,
     "Pneu novo|Indice de carga|DOT recente"),
    (AUTO, "acessorio_auto", "tapete automotivo|jogo de tapetes|capa de volante|calota aro {aro}|jogo de calotas|capa de banco automotiva|protetor de carter|engate reboque|bagageiro de teto|rack de teto|antena automotiva|sensor de re kit",
     ["?borracha|carpete|universal|cromada|{n} pecas|preto|grafite"], "Kitcar|Grid|Sportcar|Multilaser Auto|Universal|Autoforte|Fixauto", 0.6, None, ""),
    (AUTO, "som_auto", "central multimidia|multimidia automotiva|radio automotivo|som automotivo|auto radio mp3|alto-falante automotivo|par de alto falantes|modulo amplificador automotivo|subwoofer automotivo|camera de re automotiva",
     ["?{pol} pol|6 pol|2 din|1 din|6x9 pol|{w}W RMS", "?bluetooth|espelhamento|USB|android auto|carplay"],
     "Pioneer|JBL|Multilaser Auto|Positron|Taramps|Bravox|Sony|Kenwood|Roadstar|Hurricane|Aiwa Car", 0.35, None, "Instalacao no painel do veiculo"),
    (AUTO, "fechadura_auto", "fechadura da porta|macaneta externa|macaneta interna|cilindro da porta|trava eletrica|kit trava eletrica|fechadura do porta-malas|miolo de ignicao",
     ["?dianteira|traseira|LD|LE|{n} portas", "?com chave|cromada|preta"], "Universal|Kostal|Kitcar|Original Parts|Fechaduras Brasil|Tragial", 0.9, None, ""),
    (AUTO, "lataria", "para-choque dianteiro|para-choque traseiro|paralama|capo|grade do radiador|moldura do farol|parachoque|porta traseira|tampa traseira|parabarro",
     ["?LD|LE|com furo|sem furo|primer|preto", "?{n} portas"], "Gonel|Sportcar|DTS|Fabrica Brasileira de Parachoques|Plasticos Auto|Ngk Plastic", 0.95, None, ""),
    (AUTO, "lixa_auto", "lixa d'agua automotiva|disco de lixa automotivo|massa de polir|boina de la|cera automotiva|polidor automotivo|lixa para funilaria",
     ["?grana {grana}|#{grana}|P{grana}|{mm}mm", "?para polimento|para funilaria"], "3M Automotivo|Norton Auto|Menzerna|Vonixx|Maxi Rubber|Cadillac|Sonax", 0.05, None,
     "Para polimento automotivo|Uso em funilaria"),
    (AUTO, "parafuso_auto", "parafuso de roda|porca de roda|parafuso do cabecote|jogo de parafusos do cabecote|prisioneiro de roda|parafuso da bandeja|parafuso de roda antifurto",
     ["?M12x1,5|M14x1,5|{n} unidades|cromado|com chave"], "Ciser|Metalac|TRW|Sabo|Mcgard|Elring|Italia Parafusos", 0.9, None, ""),

    # ------------------------------------------------------------ INFORMATICA
    (INFO, "ssd", "SSD|SSD interno|unidade de estado solido|SSD M.2|SSD NVMe|disco SSD|SSD SATA",
     ["120GB|240GB|256GB|480GB|500GB|512GB|960GB|1TB|2TB|1 TB|240 GB", "?SATA III|SATA 3|2.5 pol|M.2 2280|NVMe PCIe 3.0|NVMe PCIe 4.0|PCIe Gen4", "?leitura {mbs}MB/s|{mbs}MB/s"],
     "Kingston|WD Green|Crucial|Sandisk|Adata|XPG|Samsung|Lexar|Patriot|Netac|Husky|Kingspec|WD Blue|Corsair|Team Group|Redragon", 0, None,
     "Leitura de ate {mbs}MB/s|Compativel com notebooks e desktops|Garantia de 3 anos"),
    (INFO, "hd", "HD|HD interno|disco rigido|HD externo|HD portatil|hard disk|HD para DVR|HD de notebook",
     ["500GB|1TB|2TB|3TB|4TB|6TB|8TB|1 TB", "?SATA|SATA III|USB 3.0|3.5 pol|2.5 pol", "?5400RPM|7200RPM|{rpm} RPM|64MB cache|256MB"],
     "Seagate|Western Digital|Toshiba|WD Purple|Seagate Barracuda|Seagate Skyhawk|WD Blue|Hitachi", 0, None,
     "Ideal para armazenamento de dados|Cabo USB incluso"),
    (INFO, "memoria", "memoria RAM|memoria|pente de memoria|memoria DDR4|memoria para notebook|memoria desktop|memoria gamer",
     ["4GB|8GB|16GB|32GB|2x8GB|2x16GB|8 GB", "DDR3|DDR4|DDR5|DDR3L|DDR4", "?{mhz}MHz|2666MHz|3200MHz|1600MHz|CL16", "?SODIMM|UDIMM|notebook|desktop|RGB"],
     "Kingston|Crucial|Corsair|HyperX|Adata|XPG|Patriot|Husky|Netac|Rise Mode|Kingston Fury|Corsair Vengeance|TeamGroup", 0, None,
     "Compativel com placas-mae {socket}|Dissipador de calor em aluminio"),
    (INFO, "pendrive", "pendrive|pen drive|memoria flash USB|pen drive USB|flash drive",
     ["8GB|16GB|32GB|64GB|128GB|256GB", "?USB 2.0|USB 3.0|USB 3.1|tipo C|OTG", "?{color}|metal|giratorio"],
     "Sandisk|Kingston|Multilaser|Lexar|HP|PNY|Sandisk Cruzer|Verbatim", 0, None, ""),
    (INFO, "cartao_memoria", "cartao de memoria|cartao micro SD|cartao microSD|micro SD|cartao SD|cartao SDXC",
     ["16GB|32GB|64GB|128GB|256GB|512GB", "?classe 10|U1|U3|A1|V30|UHS-I", "?com adaptador|{mbs}MB/s"],
     "Sandisk|Kingston|Samsung|Multilaser|Lexar|Sandisk Ultra|Samsung Evo", 0, None, "Acompanha adaptador SD"),
    (INFO, "mouse", "mouse|mouse sem fio|mouse optico|mouse gamer|mouse wireless|mouse com fio|mouse bluetooth|mouse vertical",
     ["?USB|sem fio|bluetooth|2.4GHz|wireless|com fio", "?{dpi} DPI|1000 DPI|1600 DPI|{n} botoes|RGB|silencioso", "?{color}"],
     "Logitech|Multilaser|Microsoft|Redragon|HyperX|Razer|C3Tech|Dell|HP|Fortrek|Maxprint|Bright|Knup|Exbom|Hoopson|Lenovo|Vinik|Husky Gaming|Corsair", 0, None,
     "Pilha inclusa|Receptor USB nano|Conexao sem fio 2.4GHz|Sensor optico de alta precisao"),
    (INFO, "teclado", "teclado|teclado sem fio|teclado gamer|teclado mecanico|teclado USB|teclado bluetooth|teclado multimidia|teclado ABNT2",
     ["?ABNT2|ABNT|US|padrao brasileiro", "?USB|sem fio|bluetooth|com fio", "?switch red|switch blue|switch brown|outemu blue|RGB|LED|semi mecanico|membrana", "?{color}"],
     "Logitech|Multilaser|Microsoft|Redragon|HyperX|Razer|C3Tech|Dell|Fortrek|Maxprint|Bright|Knup|Exbom|Lenovo|Corsair|Husky Gaming", 0, None,
     "Layout ABNT2 com cedilha|Teclas silenciosas|Switch mecanico"),
    (INFO, "kit_teclado_mouse", "kit teclado e mouse|kit teclado mouse sem fio|combo teclado e mouse|kit mouse e teclado",
     ["?sem fio|USB|wireless|gamer", "?ABNT2|{color}"], "Logitech|Multilaser|Microsoft|C3Tech|Dell|HP|Maxprint|Bright|Lenovo|Exbom", 0, None, ""),
    (INFO, "mousepad", "mousepad|mouse pad|mousepad gamer|mouse pad com apoio|deskpad",
     ["?{cm}x{cm2}cm|90x40cm|grande|pequeno|extra grande", "?speed|control|RGB|com apoio de pulso"], "Redragon|HyperX|Logitech|Multilaser|Fortrek|Rise Mode|Reliza", 0, "val", ""),
    (INFO, "headset", "headset|headset gamer|fone de ouvido|fone headset|fone bluetooth|fone de ouvido sem fio|headphone|fone com microfone",
     ["?P2|P3|USB|7.1|bluetooth 5.0|sem fio|com microfone", "?{color}|RGB|over ear|intra auricular"],
     "HyperX|Logitech|JBL|Redragon|Havit|Edifier|Philips|Multilaser|Sony|Corsair|Razer|Fortrek|Knup|Lenovo|QCY", 0, None,
     "Microfone removivel|Almofadas confortaveis|Bateria de longa duracao"),
    (INFO, "webcam", "webcam|camera web|webcam full hd|webcam HD|camera para videoconferencia",
     ["?720p|1080p|Full HD|HD|4K", "?com microfone|USB|foco automatico|{fps}fps"], "Logitech|Multilaser|Intelbras|C3Tech|Microsoft|Razer|Lenovo", 0, "test", ""),
    (INFO, "monitor", "monitor|monitor LED|monitor gamer|monitor IPS|monitor ultrawide|tela monitor",
     ['18,5 pol|19,5"|21,5"|23,8"|24 pol|27"|29 pol|32"|34"|{pol} pol', "?Full HD|HD|2K|4K|QHD|1080p", "?75Hz|144Hz|165Hz|60Hz|1ms|5ms", "?HDMI|VGA|DisplayPort|HDMI e VGA"],
     "LG|Samsung|AOC|Dell|Philips|Acer|Asus|Lenovo|Positivo|BenQ|Pichau|Redragon|HQ|Mancer", 0, None,
     "Tela antirreflexo|Suporte VESA|Painel IPS com cores vivas"),
    (INFO, "notebook", "notebook|laptop|ultrabook|notebook gamer|chromebook|notebook 2 em 1",
     ["?Intel Core i3|Intel Core i5|Intel Core i7|Ryzen 5|Ryzen 7|Celeron|Core i5 12a geracao|Ryzen 3", "?{ram}GB RAM|4GB|8GB|16GB", "?SSD {ssd}GB|256GB SSD|512GB SSD|HD 1TB", '?15,6"|14"|15.6 pol|13,3"', "?Windows 11|Linux|sem sistema"],
     "Dell|Lenovo|Acer|Asus|Samsung|Positivo|HP|Vaio|Multilaser|Apple|Dell Inspiron|Lenovo Ideapad|Acer Aspire", 0, None,
     "Tela Full HD antirreflexo|Teclado numerico|Webcam HD integrada"),
    (INFO, "computador", "computador|desktop|PC gamer|computador completo|mini PC|all in one|CPU|estacao de trabalho|PC office",
     ["?Intel Core i3|Core i5|Core i7|Ryzen 5|Ryzen 7|Pentium|Celeron", "?{ram}GB|8GB|16GB", "?SSD {ssd}GB|SSD 240GB|HD 1TB", "?Windows 11 Pro|Linux|com monitor|com wifi"],
     "Dell|Lenovo|Positivo|HP|Acer|Asus|Multilaser|Pichau|Mancer|3green|Bluecase|Daten", 0, None, ""),
    (INFO, "processador", "processador|CPU processador|processador gamer",
     ["Intel Core i3-{cpu}|Intel Core i5-{cpu}|Core i7-{cpu}|Ryzen 5 {rz}|Ryzen 7 {rz}|Ryzen 3 {rz}|Core i9-{cpu}|Pentium Gold|Athlon 3000G|Celeron G5905", "?LGA1200|LGA1700|AM4|AM5|socket AM4", "?{ghz}GHz|cache {n}MB|com cooler|sem cooler|box"],
     "Intel|AMD", 0, None, "Processador com graficos integrados|Acompanha cooler box"),
    (INFO, "placa_mae", "placa mae|placa-mae|motherboard|placa mae gamer|placa mae micro ATX",
     ["H610M|B450M|A520M|B550M|H510M|B660M|H410M|A320M|B760M|Z790|X570", "?DDR4|DDR5", "?LGA1200|LGA1700|AM4|AM5", "?micro ATX|ATX|mini ITX|M.2|wifi"],
     "Asus|Gigabyte|ASRock|MSI|Biostar|Afox|Pcware|Bluecase|Mancer|Asus Prime|Gigabyte Aorus", 0, None, "Suporta processadores de {n}a geracao"),
    (INFO, "placa_video", "placa de video|placa video|GPU|placa grafica|placa de video gamer",
     ["RTX 3060|GTX 1650|RX 6600|RX 580|RTX 4060|RTX 4070|GT 730|GT 1030|RX 7600|RTX 3050|GTX 1660 Super|Arc A750|RX 550", "?{vram}GB|4GB|8GB|12GB", "?GDDR5|GDDR6|GDDR6X|128 bits|192 bits", "?dual fan|OC|{n} fans|low profile"],
     "Asus|Gigabyte|MSI|Galax|PowerColor|XFX|Zotac|PNY|Sapphire|Palit|Afox|Pcyes|ASRock|Gainward", 0, None, "Saidas HDMI e DisplayPort"),
    (INFO, "fonte_pc", "fonte ATX|fonte para PC|fonte de alimentacao|fonte gamer|fonte real|fonte modular|fonte para computador",
     ["200W|400W|450W|500W|550W|600W|650W|750W|850W|1000W|{w}W", "?80 Plus Bronze|80 Plus Gold|80 Plus White|80 Plus|PFC ativo|PFC passivo", "?bivolt|modular|semi modular|full modular|ATX 3.0"],
     "Corsair|EVGA|Cooler Master|XPG|Gamemax|MSI|C3Tech|PCYes|Mymax|Redragon|Thermaltake|Superflower|Rise Mode|Pichau|Montech|Aerocool", 0, None, "Cabo PCIe 8 pinos|Ventoinha silenciosa de 120mm"),
    (INFO, "fonte_notebook", "fonte para notebook|carregador de notebook|fonte notebook|carregador universal notebook|fonte USB-C notebook|carregador de celular|carregador turbo|carregador USB",
     ["?19V 3,42A|19,5V 4,62A|20V 3,25A|65W|90W|45W|20W|25W|{w}W", "?plug {mm}mm|USB-C|tipo C|lightning|universal|bivolt", "?compativel Dell|compativel Lenovo|compativel Acer|compativel Samsung|compativel HP"],
     "Dell|Lenovo|Acer|Asus|HP|Samsung|Multilaser|Exbom|Bringit|Knup|Flex Gold|Hrebos|Apple|Xiaomi|Ugreen|Baseus", 0, None, ""),
    (INFO, "gabinete", "gabinete|gabinete gamer|gabinete ATX|gabinete micro ATX|gabinete mid tower|case|gabinete office",
     ["?lateral de vidro|lateral em vidro temperado|lateral acrilico|sem fonte|com fonte 200W|mesh", "?{n} fans RGB|3 coolers|RGB|ARGB|sem fan", "?{color}|preto|branco"],
     "Gamemax|Redragon|Cooler Master|PCYes|Aerocool|Mancer|Rise Mode|Sharkoon|Corsair|Lian Li|C3Tech|Bluecase|K-Mex|Montech", 0, None, ""),
    (INFO, "cooler", "cooler|cooler para processador|water cooler|watercooler|air cooler|fan|ventoinha para gabinete|cooler fan|kit fans|cooler notebook|base para notebook|bomba do water cooler",
     ["?120mm|140mm|240mm|360mm|92mm|80mm|{mm}mm", "?RGB|ARGB|LED azul|silencioso|{rpm} RPM|{n} heatpipes", "?Intel e AMD|LGA1700|AM4|AM5|universal"],
     "Cooler Master|Rise Mode|DeepCool|Gamdias|Corsair|Noctua|Pichau|PCYes|Redragon|Thermalright|Gamer Storm|Arctic|Husky|C3Tech|Lian Li", 0, None,
     "Compativel com sockets Intel e AMD|Bomba integrada ao bloco"),
    (INFO, "pasta_termica", "pasta termica|pasta termica prata|pad termico|composto termico|pasta termica para processador",
     ["?{g}g|3,5g|4g|1g|seringa|pote", "?{wmk} W/mK|alta condutividade|prata"], "Arctic|Implastec|Cooler Master|Thermal Grizzly|Noctua|Gelid|Rise Mode|Thermalright|Corsair", 0, None, "Para CPU e GPU"),
    (INFO, "nobreak", "nobreak|no-break|nobreak senoidal|nobreak interativo|UPS|nobreak bivolt",
     ["600VA|700VA|720VA|1200VA|1400VA|1500VA|2200VA|3000VA|{va}VA|1,2kVA", "?bivolt|115V|120V|220V|entrada bivolt saida 115V", "?{n} tomadas|senoidal|interativo|USB|com bateria interna"],
     "SMS|APC|Ragtech|Intelbras|NHS|TS Shara|Enermax|Microsol|CP Eletronica|Powertek|Upsai|Salicru", 0, None,
     "Protecao para computadores e perifericos|Autonomia de ate {n} minutos|Bateria interna selada"),
    (INFO, "estabilizador", "estabilizador|estabilizador de tensao|estabilizador bivolt|protetor eletronico|estabilizador para PC",
     ["300VA|500VA|1000VA|1500VA|2000VA|{va}VA|300 VA", "?bivolt|115V|entrada bivolt|220V", "?{n} tomadas|4 tomadas|6 tomadas|com protecao de linha telefonica"],
     "SMS|Ragtech|TS Shara|Intelbras|Enermax|Microsol|Force Line|Forceline|NHS|APC", 0, None, "Protecao contra surtos e picos de tensao"),
    (INFO, "bateria_info", "bateria selada para nobreak|bateria nobreak|bateria para nobreak|bateria notebook|bateria de notebook|bateria CMOS|bateria para placa mae|bateria de litio para notebook|bateria interna de nobreak|bateria selada VRLA para nobreak|bateria para celular|bateria externa power bank|power bank",
     ["?12V 7Ah|12V 9Ah|12V 5Ah|12V 18Ah|12V 7,2Ah|11,1V 4400mAh|14,8V 2200mAh|CR2032 3V|{mah}mAh|10000mAh|20000mAh|6 celulas|3V", "?compativel Dell|compativel Lenovo|compativel Acer|para nobreak SMS|para nobreak APC|VRLA|AGM|USB-C"],
     "Unipower|Getpower|Golden Power|Intelbras|Csb|Rondon|Elgin Power|Bringit|Duracell|Multilaser|Pisc|Xiaomi|Anker|Powertek|Sony Energy", 0, None,
     "Substituicao da bateria interna do nobreak|Bateria recarregavel de litio|Compativel com nobreaks de {va}VA"),
    (INFO, "cabo_hdmi", "cabo HDMI|cabo hdmi 2.0|cabo HDMI 4K|cabo hdmi macho macho|cabo micro HDMI|cabo mini HDMI|cabo HDMI 2.1",
     ["1m|1,5m|1.8m|2m|3m|5m|10m|15m|20m|{m} metros", "?2.0|2.1|1.4|4K|8K|ultra HD|com ethernet|ouro", "?{color}|nylon|flat"],
     "Multilaser|Vinik|Exbom|Pluscable|ELG|Ugreen|Chip SCE|Hayom|Knup|Baseus|Lotus|Mox|Belkin", 0, None, "Suporta resolucao 4K|Conectores banhados a ouro"),
    (INFO, "cabo_usb", "cabo USB|cabo USB-C|cabo tipo C|cabo micro USB|cabo lightning|cabo extensor USB|cabo USB 3.0|cabo de dados|cabo para impressora USB|cabo USB A-B",
     ["?1m|2m|3m|1,5m|1.8m|{m} metros|30cm", "?USB 2.0|USB 3.0|USB 3.1|tipo C|turbo|{w}W|carregamento rapido|5A", "?{color}|nylon|reforcado"],
     "Multilaser|Vinik|Exbom|Pluscable|ELG|Ugreen|Chip SCE|Hayom|Knup|Baseus|Lotus|Mox|Belkin|Anker|Geonav|I2go", 0, None, ""),
    (INFO, "cabo_rede", "cabo de rede|cabo de rede UTP|cabo UTP|patch cord|cabo de rede crimpado|cabo ethernet|cabo de rede Cat6|cabo lan",
     ["Cat5e|Cat6|Cat6a|CAT.5E|CAT 6|Cat5e", "?caixa 305m|305 metros|{m} metros|1,5m|2,5m|5m|10m|rolo 100m|1m", "?4 pares|24AWG|23AWG|azul|cinza|branco|CM|CMX|100% cobre|externo"],
     "Furukawa|Nexans|Multilaser|Intelbras|Plus Cable|Cabletech|Cabovel|Commscope|Amp|Nexans Lan|Seccon|Vinik", 0, None,
     "Cabo para redes ethernet gigabit|Caixa com 305 metros|Conectores RJ45 crimpados"),
    (INFO, "adaptador_video", "cabo VGA|cabo DisplayPort|adaptador HDMI para VGA|conversor HDMI VGA|adaptador USB-C hub|hub USB|adaptador displayport para HDMI|splitter HDMI|switch HDMI|adaptador USB para rede|adaptador bluetooth USB|leitor de cartao USB",
     ["?{n} portas|4 portas|7 portas|1,8m|3m|{m} metros", "?USB 3.0|USB-C|com audio|4K|1080p|gigabit"],
     "Multilaser|Vinik|Exbom|Pluscable|ELG|Ugreen|Chip SCE|Hayom|Knup|Baseus|Lotus|Mox|Belkin|Orico|Comtac", 0, None, ""),
    (INFO, "cabo_forca_pc", "cabo de forca|cabo de forca para PC|cabo de forca tripolar|cabo de alimentacao para monitor|cabo de forca para fonte|cabo de forca notebook|cabo tripolar para computador|cabo de forca para impressora",
     ["?1,5m|1.8m|3m|{m}m", "?10A|padrao novo|NBR 14136|3 pinos|2 pinos|tripolar|tipo trevo"],
     "Multilaser|Vinik|Exbom|Pluscable|ELG|Chip SCE|Hayom|Knup|Lotus|Mox|Force Line|Fortrek", 0, None, "Cabo para computador, monitor e impressora"),
    (INFO, "switch_rede", "switch|switch de rede|switch gigabit|switch ethernet|switch gerenciavel|switch PoE|hub switch|switch nao gerenciavel",
     ["5 portas|8 portas|16 portas|24 portas|48 portas|{n} portas", "?10/100|10/100/1000|gigabit|fast ethernet|PoE|SFP", "?desktop|rack 19 pol|gerenciavel|nao gerenciavel"],
     "TP-Link|Intelbras|D-Link|Mercusys|Ubiquiti|Multilaser|Cisco|Huawei|Mikrotik|Aruba|Tenda|Netgear|HPE|Planet", 0, None,
     "Switch plug and play|Gabinete metalico|Portas RJ45 gigabit"),
    (INFO, "roteador", "roteador|roteador wireless|roteador wifi|roteador dual band|roteador mesh|repetidor wifi|repetidor de sinal|access point|ponto de acesso|adaptador wifi USB|placa de rede wifi|modem|roteador 4G",
     ["?N300|AC1200|AX1500|AX3000|AC750|300Mbps|{n}Mbps|wifi 6|wifi 5", "?dual band|2.4GHz|5GHz|{n} antenas|gigabit|mesh"],
     "TP-Link|Intelbras|Mercusys|D-Link|Multilaser|Tenda|Huawei|Xiaomi|Ubiquiti|Asus|Mikrotik|Netgear|Archer|Greatek|Linksys", 0, None,
     "Controle pelo aplicativo|Alcance de ate {n} metros"),
    (INFO, "impressora", "impressora|impressora multifuncional|multifuncional|impressora laser|impressora jato de tinta|impressora tanque de tinta|impressora ecotank|impressora termica|scanner de mesa|plotter",
     ["?colorida|monocromatica|mono|laser|wifi|duplex|USB|{ppm}ppm|A4|80mm", "?bivolt|110V|220V"],
     "Epson|HP|Canon|Brother|Samsung|Xerox|Elgin|Bematech|Kyocera|Ricoh|Lexmark|Pantum|Zebra|Argox|Tanca", 0, None,
     "Impressao, copia e digitalizacao|Conexao wifi e USB|Ate {ppm} paginas por minuto"),
    (INFO, "cartucho", "cartucho de tinta|cartucho|refil de tinta|garrafa de tinta|kit refil de tinta|tinta para impressora|tinta para ecotank|tinta sublimatica|cartucho compativel|tinta corante",
     ["?preto|colorido|ciano|magenta|amarelo|tricolor|kit 4 cores|{color}", "?{ml}ml|70ml|100ml|1 litro|T664|T544|664|667|122|662|GT52|GT53|ink 50|{n}XL", "?original|compativel|alto rendimento"],
     "Epson|HP|Canon|Brother|Inktec|Multilaser|Ecotank|Sublinet|Jettec|Printerink|Mundi Print|Evolut|Premium Ink", 0, None,
     "Para impressoras Epson L3150|Compativel com impressoras HP Deskjet|Rendimento aproximado de {n} paginas"),
    (INFO, "toner", "toner|cartucho de toner|toner compativel|toner original|cilindro fotocondutor|unidade de imagem|drum",
     ["?CE285A|TN-1060|D111S|CF258A|TN-2370|CF283A|W1105A|MLT-D101S|{letter}{n}A", "?preto|black|ciano|magenta|amarelo", "?{pag} paginas|alto rendimento"],
     "HP|Brother|Samsung|Evolut|Chinamate|Premium|Xerox|Lexmark|Kyocera|Ricoh|Pantum|Bestoner", 0, None, ""),
    (INFO, "pdv", "leitor de codigo de barras|leitor codigo de barras|gaveta de dinheiro|bobina termica|bobina para impressora termica|etiqueta termica|balanca PDV|terminal de consulta|monitor touch PDV|leitor de cartao magnetico|impressora fiscal",
     ["?USB|sem fio|2D|1D|QR code|80mm x 40m|57mm|{mm}mm|{n} rolos|laser|com suporte"],
     "Elgin|Bematech|Epson|Tanca|Zebra|Honeywell|Datalogic|Argox|Gertec|Toledo|Daruma|Menno|Control ID|Jetway", 0, None, "Para frente de caixa"),
    (INFO, "ferramenta_info", "alicate de crimpar|alicate crimpador RJ45|alicate de crimpagem|testador de cabo de rede|kit ferramentas para informatica|kit chave de precisao|pulseira antiestatica|decapador de cabo de rede|ferramenta punch down|localizador de cabos|multimetro para rede",
     ["?RJ45|RJ11|RJ12|Cat5e|Cat6|{n} pecas|com catraca|antiestatica", "?para celular|para notebook|para rede"],
     "Hikari|Intelbras|Furukawa|Multitoc|Chip SCE|Proskit|Fluke|Pro'sKit|Jakemy|Baseus|Vonder Tech|Tramontina Tech|Multilaser", 0, None,
     "Ideal para tecnicos de informatica|Para instalacao de redes"),
    (INFO, "conector_rede", "conector RJ45|conector de rede|plug RJ45|keystone|keystone RJ45|patch panel|tomada de rede|capa para conector RJ45|emenda RJ45|caixa de conectores RJ45|organizador de cabos para rack|rack para servidor|rack de parede",
     ["?Cat5e|Cat6|Cat6a|{n} portas|24 portas|5U|8U|12U|19 pol", "?pacote com {n}|100 unidades|blindado|femea|macho|azul"],
     "Furukawa|Intelbras|Multilaser|Commscope|Amp|Nexans|Seccon|Max Eletron|Plus Cable|Cabletech|Wirelink", 0, None, ""),
    (INFO, "leitor_biometrico", "leitor biometrico|leitor de impressao digital|sensor biometrico|leitor biometrico USB|controle de acesso biometrico|relogio de ponto biometrico|fechadura digital biometrica",
     ["?USB|wifi|com senha|com cartao|{n} digitais|RFID"], "Intelbras|Control ID|Nitgen|Henry|Hikvision|ZKTeco|Digital Persona|Secullum", 0, None, ""),
    (INFO, "cftv", "camera de seguranca|camera IP|camera bullet|camera dome|DVR|NVR|gravador digital DVR|kit CFTV|camera wifi|camera infravermelho|conector BNC|cabo coaxial bipolar|fonte para CFTV|balun|video balun|fonte 12V 5A para cameras",
     ["?{n} canais|4 canais|8 canais|16 canais|1080p|720p|4MP|2MP|HD|full HD|{n} metros|5A|10A", "?infravermelho {n}m|IP66|wifi|Multi HD|HDCVI|AHD|PoE|com audio|externa|interna|colmeia"],
     "Intelbras|Hikvision|Giga Security|Multilaser|Tecvoz|Dahua|Jortan|Luxvision|Cabletech|Tiandy|Imou|Ezviz|JFL", 0, None,
     "Monitoramento pelo celular|Gravacao em nuvem|Visao noturna"),
    (INFO, "tablet_celular", "tablet|smartphone|celular|tablet infantil|leitor de ebook|smartwatch|relogio inteligente",
     ['?{gb}GB|64GB|128GB|32GB|8 pol|10,1"|6,5 pol', "?4G|5G|wifi|dual chip|android|4GB RAM"], "Samsung|Multilaser|Lenovo|Apple|Xiaomi|Motorola|Positivo|Kindle|Amazfit|Realme", 0, None, ""),
    (INFO, "caixa_som_pc", "caixa de som para PC|caixa de som USB|soundbar|caixa de som bluetooth|caixa acustica para computador|subwoofer para PC|microfone condensador|microfone USB|microfone gamer",
     ["?{w}W RMS|2.0|2.1|USB|P2|bluetooth|RGB|{w}W"], "Logitech|Multilaser|JBL|Edifier|Redragon|C3Tech|Philips|Fortrek|Creative|HyperX|Fifine|Exbom|Knup", 0, None, ""),
    (INFO, "projetor", "projetor|projetor multimidia|lampada para projetor|lampada de projetor|tela de projecao|suporte para projetor|datashow",
     ["?{lumens} lumens|3600 lumens|full HD|WXGA|SVGA|LED|ELPLP{n}|100 pol|retratil", "?HDMI|wifi|com controle"], "Epson|BenQ|Optoma|Acer|LG|Viewsonic|Sony|Multilaser|Exbom|Nashville", 0, None,
     "Lampada original para projetor|Vida util de {n} horas"),
    (INFO, "filtro_linha", "filtro de linha|regua de tomadas com protecao|protetor de surto|filtro linha|regua filtro de linha|filtro de linha com USB|DPS para eletronicos",
     ["{n} tomadas|4 tomadas|5 tomadas|6 tomadas|8 tomadas|{n} saidas", "?10A|bivolt|com fusivel|com chave liga desliga|com USB|1,5m|3m", "?{color}|preto|branco"],
     "Clamper|iClamper|Intelbras|Multilaser|Force Line|ENERG|Pluscable|Fortrek|Maxprint|Exbom|C3Tech|Vinik|Enerbras|Ragtech", 0, None,
     "Protecao contra surtos eletricos para computadores|Led indicador de funcionamento"),
    (INFO, "software", "licenca Windows 11 Pro|licenca Windows 10|Microsoft Office 365|Office Home and Business|antivirus|licenca antivirus|software de gestao|licenca Windows Server|pacote office|sistema operacional",
     ["?{n} usuarios|1 usuario|anual|vitalicia|ESD|digital|OEM|FPP|download", "?{n} dispositivos|1 ano|2 anos"],
     "Microsoft|Kaspersky|Norton|McAfee|ESET|Avast|Bitdefender|Corel|Adobe|Autodesk|TOTVS", 0, None, "Licenca original enviada por email"),
    (INFO, "acessorio_info", "suporte para monitor|suporte articulado monitor|suporte para notebook|cadeira gamer|mesa gamer|mochila para notebook|case para notebook|capa para tablet|hub dock station|dock station|limpa telas|kit limpeza para notebook|apoio de pulso|caneta touch|mesa digitalizadora",
     ['?{pol} pol|ate 32"|15,6 pol|articulado|pistao a gas|regulagem de altura|ergonomico|{color}', "?USB-C|HDMI|reclinavel|com rodinhas"],
     "ELG|Multivisao|Brasforma|Multilaser|DT3 Sports|ThunderX3|Fortrek|Wacom|XP-Pen|Samsonite|Targus|Vinik|Pichau Gaming|Reliza", 0, None, ""),
    (INFO, "placa_captura", "placa de captura|placa de rede PCIe|placa de som|placa de rede gigabit|placa wifi PCIe|placa controladora SATA|placa de expansao USB|adaptador M.2 NVMe PCIe|placa de som USB|placa serial PCI",
     ["?PCIe|PCI Express x1|USB 3.0|gigabit|{n} portas|4K|7.1", "?low profile|dual band|bluetooth"], "TP-Link|Elgato|Intelbras|Multilaser|D-Link|Creative|Comtac|Orico|Avermedia|Ugreen|Knup", 0, "test", ""),

    # ------------------------------------------------------------ MATERIAL_CONSTRUCAO
    (MC, "cimento", "cimento|cimento portland|cimento todas as obras|cimento estrutural|cimento branco|saco de cimento",
     ["CP II-E-32|CP II F 32|CP II-Z-32|CP III-40 RS|CP V ARI|CP IV-32|CP II E 40|CPII|CP-II", "50kg|25kg|40kg|50 kg|saco 50kg|1kg", "?uso geral|alta resistencia|secagem rapida|estrutural"],
     "Votorantim|Votoran|Caue|Itambe|Nacional|Tupi|Nassau|Mizu|Poty|Holcim|CSN|Supremo|Montes Claros|Ciplan|Liz|Apodi|Elo|Intercement|Campeao", 0, None,
     "Cimento para uso geral em obras|Ideal para concreto, argamassa e reboco|Saco de {kg}kg"),
    (MC, "argamassa", "argamassa|argamassa colante|argamassa AC-I|argamassa AC-II|argamassa AC-III|argamassa para porcelanato|argamassa de assentamento|argamassa pronta|chapisco|reboco pronto|graute",
     ["?AC-I|AC-II|AC-III|AC1|AC2|AC3|AC III", "20kg|15kg|50kg|20 kg|saco 20kg|40kg", "?uso interno|uso externo|interno e externo|porcelanato|cinza|branca|piso sobre piso"],
     "Quartzolit|Votomassa|Cimentcola|Precon|Fortaleza|Ligamax|Bautech|Argamassa Forte|Matrix|Portokoll|Ciplak|Fortmassa|Biomassa|Poty", 0, None,
     "Para assentamento de pisos e revestimentos ceramicos|Rendimento aproximado de {n}kg/m2"),
    (MC, "rejunte", "rejunte|rejunte flexivel|rejunte acrilico|rejunte epoxi|rejuntamento|rejunte cimenticio|rejunte para porcelanato",
     ["?1kg|5kg|2kg|{kg}kg|1 kg|saco 5kg|bisnaga", "?cinza platina|branco|bege|cinza|grafite|marfim|preto|corda|caramelo|cinza outono", "?antimofo|impermeavel|para piscina"],
     "Quartzolit|Portokoll|Bautech|Fortaleza|Precon|Eliane|Argalit|Vedacit|Ceramfix|Votomassa", 0, "test", ""),
    (MC, "cal", "cal hidratada|cal|cal virgem|cal para pintura|cal CH-I|cal CH-III|saco de cal",
     ["20kg|8kg|{kg}kg|20 kg|saco 20kg", "?CH-I|CH-III|CH I|CH III|para argamassa|para pintura|extra"], "Itau|Massical|Supercal|Ical|Imbe|Votoran|Cal Qualical|Calfort|Primor", 0, "val", ""),
    (MC, "agregado", "areia|areia media|areia fina|areia lavada|brita|brita 1|brita 0|pedra brita|pedrisco|po de pedra|pedra de mao|areia grossa|seixo rolado",
     ["?m3|metro cubico|saco 20kg|saco 25kg|lata|{m3}m3|granel|ensacada|saco"], "", 0, None, "Entrega a granel|Vendido por metro cubico"),
    (MC, "tijolo", "tijolo|tijolo ceramico|bloco ceramico|bloco de concreto|tijolo baiano|tijolo macico|bloco estrutural|canaleta de concreto|tijolo ecologico|meio bloco|bloco de vedacao",
     ["?9x19x19|9x14x19|14x19x39|19x19x39|11,5x19x29|9x19x29|{n} furos|6 furos|8 furos|9 furos", "?milheiro|unidade|vedacao|estrutural|{mpa} MPa"],
     "Ceramica Sao Jose|Glasser|Tatu Premoldados|Ceramica Paulista|Pauluzzi|Selecta Blocos|Ceramica Santa Rosa|Ceramica Braunas", 0, None, "Venda por milheiro"),
    (MC, "telha", "telha|telha de fibrocimento|telha ondulada|telha ceramica|telha romana|telha colonial|telha portuguesa|telha metalica|telha termoacustica|telha de PVC|telha translucida|cumeeira|telha sanduiche",
     ["?2,44x1,10m|1,83x1,10m|2,44 x 0,50|{len}x1,10m|6mm|5mm|4mm|{mm}mm", "?ondulada|esmaltada|natural|galvalume|trapezoidal|cinza|vermelha", "?unidade|milheiro"],
     "Eternit|Brasilit|Precon|Fortlev|Imbralit|Isoeste|Infibra|Ceramica Maristela|Ceramica Sao Pedro|Telhanorte|Multitelha|Kalhetao", 0, None, ""),
    (MC, "caixa_agua", "caixa d'agua|caixa dagua|caixa de agua|reservatorio de agua|cisterna|tanque de polietileno|caixa d'agua de fibra|tampa para caixa d'agua",
     ["310L|500L|750L|1000L|1500L|2000L|5000L|{l}L|1000 litros|500 litros", "?polietileno|fibra de vidro|com tampa|azul|tampa rosca|modular"],
     "Fortlev|Tigre|Acqualimp|Bakof|Amanco|Eternit|Brasilit|Tigre Ecologica|Fibromar|Fortplus|Metalplas", 0, None, "Acompanha tampa|Protecao UV"),
    (MC, "tubo_pvc", "tubo PVC|cano PVC|tubo soldavel|tubo de esgoto|tubo PVC esgoto|cano de esgoto|tubo roscavel|tubo PPR|tubo CPVC|tubo pex|barra de tubo",
     ["20mm|25mm|32mm|40mm|50mm|60mm|75mm|100mm|150mm|1/2 pol|3/4 pol|1 pol|{mm}mm|DN 100", "?barra 6m|barra 3m|6 metros|3m|{m}m", "?soldavel|esgoto|serie normal|reforcado|agua fria|agua quente|marrom|branco"],
     "Tigre|Amanco|Krona|Fortlev|Plastilit|Astra|Cardinali|Tigre Aquatherm|Amanco Wavin|Topfusion|Plastubos|Viqua|Aquatherm|Fgs", 0, None,
     "Tubo para agua fria|Barra com 6 metros|Para instalacoes prediais de esgoto"),
    (MC, "conexao", "joelho 90|joelho 45|te soldavel|luva soldavel|curva 90|cap|bucha de reducao|adaptador soldavel|luva de correr|juncao|ralo sifonado|caixa sifonada|niple|uniao soldavel|plug|joelho azul|te de reducao",
     ["20mm|25mm|32mm|40mm|50mm|75mm|100mm|1/2 pol|3/4 pol|25mm x 3/4|{mm}mm|100x50mm", "?soldavel|roscavel|esgoto|com bucha de latao|agua fria|serie R|branco|marrom"],
     "Tigre|Amanco|Krona|Fortlev|Plastilit|Astra|Cardinali|Viqua|Durin|Herc|Fgs|Blukit|Topfusion", 0, None, "Conexao para tubos soldaveis"),
    (MC, "registro", "registro de gaveta|registro de pressao|registro de esfera|valvula de retencao|registro PVC|base de registro|acabamento de registro|valvula de pe|valvula de descarga|reparo de valvula de descarga|torneira boia|boia para caixa d'agua",
     ["1/2 pol|3/4 pol|1 pol|25mm|32mm|50mm|{mm}mm|1.1/2 pol|3/4", "?bruto|com canopla|cromado|metal|PVC|soldavel|roscavel|bronze"],
     "Deca|Docol|Tigre|Amanco|Fabrimar|Esteves|Lorenzetti|Censi|Blukit|Herc|Perflex|Hydra|Krona|Meber|Pertutti|Roca", 0, None, ""),
    (MC, "cabo_eletrico", "cabo flexivel|fio flexivel|cabo eletrico flexivel|fio solido|fio rigido|cabo PP|cabo paralelo|fio paralelo|cabo de cobre|cabo flex|cabo eletrico|cordao paralelo|cabo multiplex|cabo de aluminio|cabo HEPR",
     ["1,5mm|2,5mm|4mm|6mm|10mm|16mm|25mm|0,75mm|1mm|2x1,5mm|3x2,5mm|4x4mm|2 x 2,5mm|{sqmm}mm2|2,5mm2|1,5 mm|2,5 mm|6mm2", "?750V|450/750V|0,6/1kV|1kV|antichama|HEPR|PVC 70", "?rolo 100m|100 metros|50m|rolo 50m|{m}m|25m|metro|bobina", "?azul|preto|vermelho|verde|amarelo|branco|cinza|verde/amarelo|marrom"],
     "Sil|Cobrecom|Prysmian|Corfio|Conduspar|Induscabos|Megatron|Nambei|Lamesa|Cordeiro|Sil Fios|Ficap|Condumax|Phelps Dodge|Alubar|Cabos Brasil|Cobremack|Fiopar|Cemar Cabos", 0, None,
     "Cabo para instalacoes eletricas residenciais|Condutor de cobre eletrolitico|Rolo com {m} metros|Norma NBR NM 247-3"),
    (MC, "cabo_aco", "cabo de aco|cabo de aco galvanizado|cabo de aco revestido|cabo para enxada|cabo de madeira para ferramentas|cabo de vassoura|cabo para marreta|cabo para picareta|corrente galvanizada|cordoalha",
     ['1/8"|3/16"|1/4"|5/16"|3/8"|{mm}mm|1,20m|1,50m|90cm|{m}m', "?galvanizado|revestido|alma de fibra|alma de aco|eucalipto|madeira|metro"],
     "Cimaf|Morsing|Tramontina|Fortaleza Ferramentas|Brasfort|Vonder|Ferramentas Gerais|Cabos Fortaleza|Cordoaria Sao Leopoldo", 0, None, ""),
    (MC, "disjuntor", "disjuntor|disjuntor monopolar|disjuntor bipolar|disjuntor tripolar|disjuntor DIN|disjuntor NEMA|mini disjuntor|disjuntor DR|interruptor DR|DPS|dispositivo de protecao contra surtos|disjuntor termomagnetico|barramento pente",
     ["10A|16A|20A|25A|32A|40A|50A|63A|70A|100A|{amp}A|30mA|20kA|275V|45kA", "?curva C|curva B|DIN|NEMA|monopolar|bipolar|tripolar|1P|2P|3P|4P", "?{ka}kA|3kA|5kA|127/220V|400V"],
     "Schneider|Steck|WEG|Siemens|Soprano|Tramontina|Lukma|Eletromar|ABB|Legrand|Clamper|Lorenzetti|Eaton|JNG|Mar-Girius|GE Industrial|Sibratec", 0, None,
     "Protecao contra sobrecarga e curto-circuito|Montagem em trilho DIN"),
    (MC, "tomada_interruptor", "tomada|tomada 2P+T|tomada 10A|tomada 20A|interruptor simples|interruptor paralelo|interruptor bipolar|interruptor intermediario|conjunto tomada e interruptor|placa 4x2|placa cega|modulo tomada|modulo interruptor|tomada USB de parede|pulsador campainha|interruptor com tomada|espelho para tomada|tomada de sobrepor",
     ["?10A|20A|10A 250V|{amp}A|2P+T|3 teclas|1 tecla|2 teclas|1 modulo|2 modulos", "?branco|branca|preto|cinza|bege|4x2|4x4|com placa|sem placa|de embutir|de sobrepor"],
     "Pial Legrand|Tramontina|Fame|Margirius|Schneider|WEG|Alumbra|Iriel|Siemens|Perlex|Steck|Pial|Legrand|Enerbras|Ilumi|Fame Habitat|Refinatto|Radial|Orion|Schneider Orion|Simon", 0, None,
     "Conjunto com placa 4x2|Padrao NBR 14136|Montado"),
    (MC, "quadro", "quadro de distribuicao|quadro de disjuntores|caixa de disjuntores|centro de distribuicao|quadro de embutir|quadro de sobrepor|caixa de medicao|quadro de luz|caixa de passagem",
     ["?{n} disjuntores|6 disjuntores|12 disjuntores|24 disjuntores|{n} DIN|NEMA|{n} modulos|padrao concessionaria", "?embutir|sobrepor|com porta|PVC|metalico|com barramento"],
     "Tigre|Steck|Cemar|Schneider|Tramontina|Siemens|Lukma|Krona|Legrand|Taunus|Wetzel|Margirius", 0, None, ""),
    (MC, "eletroduto", "eletroduto|eletroduto corrugado|conduite|eletroduto rigido|eletroduto flexivel|caixa de luz|caixa 4x2|caixa 4x4|caixa octogonal|luva para eletroduto|curva para eletroduto|abracadeira tipo D|canaleta PVC|bucha e arruela|mangueira corrugada|caixa de luz de embutir",
     ["?20mm|25mm|32mm|3/4 pol|1 pol|1/2 pol|{mm}mm|4x2|4x4|20x10mm", "?rolo 50m|rolo 25m|barra 3m|{m}m|amarelo|laranja|preto|reforcado|antichama|de embutir"],
     "Tigre|Amanco|Krona|Fortlev|Adtex|Corrugados Brasil|Dutoplast|Sistema|Wetzel|Daisa|Tramontina|Plastil|Polierg|Fertak", 0, None, "Para instalacoes eletricas embutidas"),
    (MC, "fita_isolante", "fita isolante|fita de autofusao|fita isolante colorida|fita crepe|fita veda rosca|fita silver tape|fita dupla face|fita aluminizada|fita demarcacao|fita adesiva",
     ["?19mm x 10m|19mm x 20m|18mm x 50m|{mm}mm x {m}m|18mm|48mm x 50m|10m|20m|{m} metros", "?preta|azul|vermelha|branca|amarela|antichama"],
     "3M|Tigre|Vonder|Imperial|Tekbond|Adere|Scotch|Eurocel|Norton|Amanco|Missner|Tapeplus|Famastil", 0, None, ""),
    (MC, "lampada_mc", "lampada LED|lampada bulbo LED|lampada LED bulbo|lampada tubular LED|lampada tubular|lampada fluorescente|lampada PAR20|lampada dicroica|lampada filamento LED|lampada milho|lampada halogena|lampada de emergencia|lampada vela|lampada bolinha|lampada incandescente|lampada LED alta potencia|lampada fluorescente compacta",
     ["9W|12W|15W|20W|30W|40W|50W|4,8W|7W|18W|{w}W|60W", "?E27|E14|GU10|G13|T8|T5|120cm|60cm|bocal E27", "?6500K|3000K|4000K|branca fria|branco quente|luz amarela|luz branca|branco neutro|{k}K", "?bivolt|127V|220V|100-240V"],
     "Philips|Osram|Ledvance|Elgin|Avant|Taschibra|Empalux|Ourolux|Llum|Bronzearte|Kian|G-Light|Save Energy|Blumenau|Intral|Golden|Brilia|Foxlux|Galaxy Led|Startec|Demi|Nitrolux", 0, None,
     "Economia de ate 80% de energia|Vida util de {n} horas|Substitui lampada incandescente de {w}W"),
    (MC, "luminaria", "refletor LED|refletor|luminaria LED|luminaria de sobrepor|plafon LED|painel LED|arandela|pendente|lustre|spot LED|balizador|luminaria de emergencia|poste de jardim|luminaria publica|refletor solar|espeto de jardim",
     ["?10W|20W|30W|50W|100W|150W|200W|{w}W|18W|24W", "?IP65|IP66|redondo|quadrado|embutir|sobrepor|6500K|3000K|bivolt|{cm}cm|preto|branco|{n} lampadas"],
     "Philips|Osram|Ledvance|Elgin|Avant|Taschibra|Empalux|Ourolux|Llum|Bronzearte|Kian|G-Light|Save Energy|Blumenau|Intral|Golden|Brilia|Foxlux|Startec|Demi|Nitrolux|Opus|Segurimax", 0, None,
     "Ideal para areas externas|Corpo em aluminio"),
    (MC, "fita_led", "fita LED|fita de LED|mangueira LED|fita LED 5050|fita LED 2835|fonte para fita LED|fonte chaveada 12V|driver LED|fita LED RGB|perfil de aluminio para fita LED|controlador fita LED",
     ["?5m|10m|rolo 5m|{m} metros|12V|24V|127V|220V|{amp}A|5A|10A|{w}W", "?IP65|IP20|3000K|6500K|RGB|branco frio|branco quente|{n} LEDs por metro"],
     "Taschibra|Avant|Elgin|Bronzearte|Stella|Ourolux|Save Energy|Blumenau|Startec|Kian|Ecoforce|Brilia|Nitrolux|Golden", 0, None, "Para iluminacao decorativa de sancas e moveis"),
    (MC, "sensor_mc", "sensor de presenca|sensor de presenca para iluminacao|sensor de presenca de teto|sensor de presenca de parede|rele fotoeletrico|fotocelula|sensor fotoeletrico|timer digital|minuteria|interruptor com sensor|sensor crepuscular|campainha sem fio|interruptor temporizado",
     ["?bivolt|127V|220V|360 graus|{n} graus|{amp}A|1000W|sobrepor|embutir|para lampada LED", "?com fotocelula|com regulagem de tempo|branco|para area externa"],
     "Qualitronix|Exatron|Margirius|Intelbras|Ilumi|Taschibra|Steck|Tramontina|Ecp|Foxlux|Avant|Alumbra|Pial Legrand|Key West", 0, None,
     "Acende a lampada automaticamente ao detectar movimento|Ideal para corredores e garagens"),
    (MC, "tinta_mc", "tinta acrilica|tinta latex|tinta acrilica fosca|tinta acrilica semibrilho|tinta para parede|tinta esmalte sintetico|esmalte sintetico|tinta epoxi|tinta para piso|tinta emborrachada|tinta para madeira|tinta para azulejo|tinta PVA|tinta spray|tinta a oleo|tinta para telhado|tinta acetinada",
     ["18L|3,6L|900ml|16L|15L|lata 18L|galao 3,6L|quarto 900ml|{l}L|400ml|balde 15L|0,9L|3,2L", "?{colormc}", "?fosco|semibrilho|acetinado|brilhante|premium|standard|economica|rende {n}m2|acabamento fosco"],
     "Suvinil|Coral|Sherwin-Williams|Iquine|Lukscolor|Renner|Eucatex|Hidracor|Anjo|Colorgin|Chemicolor|Sol e Chuva|Montana|Internacional|Mundial|Ypiranga|Futura|Dacar|Glasu|Killing|Maza Tintas|Farben Tintas|Natrielli|Atlas|Tinta Brasil", 0, None,
     "Para paredes internas e externas|Rende ate {n} m2 por demao|Secagem rapida ao toque|Baixo odor"),
    (MC, "massa_selador", "massa corrida|massa acrilica|massa PVA|selador acrilico|fundo preparador de paredes|textura acrilica|grafiato|fundo para galvanizados|zarcao|verniz para madeira|verniz maritimo|stain para madeira|seladora para madeira|impregnante|verniz copal|fundo nivelador",
     ["?25kg|18L|3,6L|900ml|lata 18L|5,6kg|{kg}kg|galao|quarto|{l}L", "?branco|incolor|natural|mogno|imbuia|cedro|fosco|brilhante|acetinado", "?interior|exterior|base agua|base solvente|antimofo"],
     "Suvinil|Coral|Iquine|Lukscolor|Renner|Eucatex|Hidracor|Viapol|Sparlack|Montana|Osmocolor|Polisten|Sayerlack|Wanda Casa|Ibratin|Gessomax|Futura|Maxi Casa|Dacar|Tinta Brasil", 0, None,
     "Para acabamento de paredes internas|Protege a madeira contra sol e chuva"),
    (MC, "impermeabilizante", "impermeabilizante|manta asfaltica|manta liquida|aditivo impermeabilizante|vedacit|emulsao asfaltica|primer asfaltico|membrana acrilica|argamassa polimerica|hidrofugante|veda calha|veda trinca|selante de calhas|manta aluminizada",
     ["?3mm|4mm|{mm}mm|rolo 10m|{kg}kg|18L|3,6L|18kg|4kg|1L|balde|lata|galao", "?branca|cinza|preta|aluminizada|tipo II|tipo III|acrilica|asfaltica|para lajes"],
     "Vedacit|Viapol|Sika|Denver|Quartzolit|Otto Baumgart|Tecnomor|Impermeabilizantes Brasil|Bautech|Vedalage|Dryko|Dry-Co|Ciplak|Fortaleza", 0, None,
     "Para lajes, terracos e calhas|Impermeabilizacao de baldrames"),
    (MC, "ferramenta_eletrica", "furadeira|furadeira de impacto|parafusadeira|parafusadeira a bateria|esmerilhadeira|esmerilhadeira angular|serra marmore|martelete|martelete rompedor|serra circular|tupia|lixadeira|soprador termico|serra tico-tico|plaina eletrica|misturador de argamassa|furadeira de bancada|policorte|serra de esquadria|lavadora de alta pressao|compressor de ar",
     ['?1/2 pol|3/8 pol|4.1/2 pol|7.1/4 pol|4 1/2"|{mm}mm|{w}W|650W|850W|1300W|1400W|12V|18V|20V|{vb}V|{cv}cv|{l} litros', "?127V|220V|bivolt|sem bateria|com bateria|{n} baterias|com maleta|sem fio", "?profissional|{rpm} rpm|com acessorios"],
     "Bosch|Makita|Dewalt|Black+Decker|Vonder|Stanley|Worx|Tramontina|Einhell|Skil|Hammer|Wesco|Mondial Ferramentas|Schulz|Intech Machine|Ryobi|Milwaukee|Hitachi|Hikoki|Metabo|Bosch Professional|Makita Pro|Wap|Karcher|Philco Tools|Gamma", 0, None,
     "Acompanha maleta e acessorios|Ideal para obras e reformas|Motor de alta performance"),
    (MC, "bateria_ferramenta", "bateria para parafusadeira|bateria para ferramenta|bateria de litio para ferramentas|carregador de bateria para parafusadeira|bateria recarregavel para furadeira|bateria para cerca eletrica|kit bateria e carregador para ferramentas",
     ["?12V|18V|20V|{vb}V|12V 7Ah", "?1,5Ah|2Ah|2,0Ah|4Ah|5Ah|{ah}Ah", "?ions de litio|lithium|bivolt|slide"],
     "Bosch|Makita|Dewalt|Black+Decker|Vonder|Stanley|Worx|Einhell|Skil|Hammer|Wesco|Ryobi|Milwaukee|Hikoki|Metabo|Bosch Professional|Makita Pro|Gamma|Tramontina", 0, None,
     "Compativel com toda a linha de ferramentas {vb}V|Para ferramentas eletricas sem fio"),
    (MC, "ferramenta_manual", "martelo|martelo unha|trena|trena de aco|nivel de aluminio|nivel de bolha|colher de pedreiro|desempenadeira|alicate universal|alicate de corte|alicate de pressao|chave de fenda|chave phillips|jogo de chaves|serrote|marreta|carrinho de mao|pa quadrada|pa de bico|enxada|picareta|broca de videa|broca para concreto|jogo de brocas|disco de corte|disco diamantado|disco de desbaste|lixa d'agua|lixa para madeira|lixa para parede|escada de aluminio|escada|esquadro|prumo|linha de pedreiro|broxa|rolo de pintura|pincel|trincha|espatula|desempenadeira dentada|balde de pedreiro|masseira|cortador de piso|serra copo|arco de serra|torques|talhadeira|ponteiro|chave inglesa|chave grifo",
     ["?{mm}mm|{pol} pol|5m|8m|{m}m|27mm|8 pol|10 pol|{n} pecas|{l}L|60L|90L|{grana}|grao {grana}|{n} degraus|{cm}cm|1kg|{kg}kg|23cm|9 pol", "?cabo de madeira|cabo emborrachado|aco carbono|cromo vanadio|profissional|com estojo|trava|pneu com camara|reforcado|magnetica|isolada|videa|diamantado|para porcelanato|para madeira|para metal"],
     "Tramontina|Vonder|Stanley|Starrett|Irwin|Gedore|Belzer|Worker|MTX|Western|Nove54|Fertak|Carbografite|Famastil|Atlas|Tigre Ferramentas|Cortag|Norton|Bosch|Makita|Sparta|Brasfort|Metasul|Fortaleza Ferramentas|Eda|Compel|Rocast|Mor|Lee Tools|Eccofer|Starfer|Disma|Pinceis Tigre|Condor|Roma Pinceis|Vonder Plus", 0, None,
     "Ferramenta para construcao civil|Cabo ergonomico|Ideal para acabamento"),
    (MC, "bomba_mc", "bomba d'agua periferica|bomba periferica|bomba submersa|bomba sapo|bomba centrifuga|pressurizador|motobomba|bomba de piscina|bomba para poco|bomba injetora|bomba d'agua submersa|bomba de recalque|bomba vibratoria|bomba para cisterna|bomba auto aspirante",
     ["1/2cv|1/4cv|1cv|1,5cv|2cv|3/4cv|{cv}cv|1/2 HP|{w}W|370W|450W", "?bivolt|127V|220V|monofasica|trifasica", "?{mca} mca|{lh} L/h|rotor de bronze|para poco artesiano|para agua limpa|para agua suja|com boia"],
     "Schneider Motobombas|Dancor|Ferrari|Thebe|Anauger|Eletroplas|Lepono|Syllent|Komeco|Rowa|Sodramar|Jacuzzi|Leao|Famac|Bombas King|Buffalo|Somar|Nautilus|Vonder|Weg Bombas", 0, None,
     "Para recalque de agua limpa|Motor blindado|Pressurizacao de chuveiros e torneiras"),
    (MC, "chuveiro", "chuveiro|chuveiro eletrico|ducha|ducha eletronica|chuveiro eletronico|resistencia para chuveiro|resistencia de chuveiro|ducha higienica|aquecedor de passagem|torneira eletrica|chuveiro a gas|chuveiro de parede",
     ["5500W|6800W|7500W|5400W|4600W|7800W|{w}W|3 temperaturas|4 temperaturas", "?127V|220V|{v}V|bivolt", "?eletronico|multitemperaturas|com cano|pressurizado|branco|cromado|preto"],
     "Lorenzetti|Fame|Hydra|Zagonel|Corona|Cardal|Advanced|Sintex|Enerbras|Lorenzetti Acqua|Hydra Optima|Deca", 0, None,
     "Resistencia de facil troca|Para banheiros residenciais"),
    (MC, "louca_metal", "torneira|torneira de parede|torneira de mesa|torneira para cozinha|torneira de jardim|misturador|misturador monocomando|sifao|sifao sanfonado|vaso sanitario|bacia sanitaria|caixa acoplada|assento sanitario|cuba de embutir|cuba inox|lavatorio|tanque de lavar roupa|mictorio|engate flexivel|chuveiro de parede|valvula para pia|ralo inox|papeleira|saboneteira",
     ["?1/2 pol|3/4 pol|{cm}cm|40cm|30cm|{mm}mm|1 litro|6 litros|{l}L", "?cromado|inox|plastico|branco|bege|preto|com arejador|bica alta|bica movel|dual flush|com caixa acoplada|almofadado|soft close"],
     "Deca|Docol|Lorenzetti|Tigre|Astra|Celite|Incepa|Roca|Icasa|Fabrimar|Esteves|Perflex|Censi|Blukit|Herc|Tramontina|Franke|Mekal|Fortinox|Meber|Pertutti|Logasa|Vogue|Hervy|Jacuzzi Metais|Tigre Metais", 0, None,
     "Acabamento cromado de alta durabilidade|Instalacao simples"),
    (MC, "piso", "piso ceramico|porcelanato|revestimento ceramico|piso|azulejo|piso laminado|piso vinilico|porcelanato polido|porcelanato acetinado|piso antiderrapante|revestimento de parede|ceramica|pastilha de vidro|rodape|soleira de granito|peitoril|ladrilho hidraulico|deck de madeira",
     ["60x60|45x45|32x57|62x62|80x80|90x90|120x120|30x60|20x20|{cm}x{cm}cm|60 x 60|58x58|56x56", "?m2|caixa {m2}m2|cx 2,5m2|{m2}m2|caixa", "?acetinado|polido|esmaltado|tipo A|PEI 4|PEI 5|retificado|bold|marmorizado|amadeirado|cimenticio|cinza|bege|branco"],
     "Portobello|Eliane|Ceusa|Incepa|Cecrisa|Biancogres|Delta|Incefra|Lef|Embramaco|Pointer|Savane|Elizabeth|Itagres|Villagres|Cristofoletti|Durafloor|Eucafloor|Tarkett|Atlas Pastilhas|Ceral|Gyotoku|Arielle|Ceramica Almeida|Formigres|Porto Ferreira|Roca Ceramica|Lanzi", 0, None,
     "Venda por metro quadrado|Caixa com {m2} m2|Para ambientes internos"),
    (MC, "aco", "vergalhao|vergalhao CA-50|vergalhao CA-60|barra de aco|tela soldada|tela de aco|arame recozido|arame galvanizado|trelica|estribo|coluna pronta|malha pop|arame farpado|tela de alambrado|tela galvanizada|viga de aco|perfil U|metalon|tubo galvanizado|cantoneira",
     ["?6,3mm|8mm|10mm|12,5mm|16mm|5mm|4,2mm|{mm}mm|1/4 pol|3/8 pol|5/16 pol|n 18|BWG 18|fio 16|15x15|20x20|{cm}x{cm}cm", "?barra 12m|12 metros|{m}m|rolo|1kg|{kg}kg|CA-50|CA-60|2x3m|{n} ferros|galvanizado|recozido|chapa 18"],
     "Gerdau|ArcelorMittal|Belgo|CSN|Simec|Sinobras|Belgo Bekaert|Morlan|Usiminas|Votorantim Siderurgia|Comercial Gerdau|Arcelor|Aco Norte|Acos Mil", 0, None,
     "Barra com 12 metros|Aco para construcao civil|Para estruturas de concreto armado"),
    (MC, "fixacao", "prego|prego com cabeca|prego sem cabeca|parafuso|parafuso sextavado|parafuso chipboard|parafuso para drywall|parafuso auto atarraxante|parafuso para telha|bucha nylon|bucha de nylon|bucha para drywall|chumbador|arruela|porca sextavada|barra roscada|rebite|prego de aco|grampo|parafuso francês|parafuso com bucha|abracadeira rosca sem fim",
     ["?17x21|18x27|15x15|12x12|19x36|{n}x{n2}|4,0x40|4.2x13|5x40|6mm|8mm|10mm|S6|S8|S10|{mm}mm|M8|M10|1/4 pol|3/8 pol|3/4 pol", "?1kg|{kg}kg|cx 100|caixa com {n} unidades|{n} pecas|500g|cento|pacote", "?zincado|galvanizado|com cabeca|bicromatizado|inox|com arruela|com vedacao|cabeca chata|cabeca panela|phillips"],
     "Gerdau|Belgo|Ciser|Fischer|Tekbond|Vonder|Ancora|Jomarca|Aco Forte|Brasfort|Famastil|Tramontina|Metalurgica Brasil|Mundial Fixadores|Walsywa|Ciser Fixadores|Krona Fix|Startfer|Vonder Fix|Belenus|Polifix|Hilti", 0, None,
     "Para fixacao em alvenaria|Pacote com {n} unidades"),
    (MC, "madeira", "tabua de pinus|tabua|caibro|ripa|sarrafo|viga de madeira|compensado|compensado naval|chapa de MDF|MDF|OSB|chapa de OSB|porta de madeira|porta lisa|batente de porta|guarnicao|kit porta pronta|prancha de madeira|pontalete|madeirite|eucalipto tratado|moirao de eucalipto|lambri",
     ["?{cm}x{cm2}cm|2,5x30cm|5x6cm|5x7cm|2x5cm|{mm}mm|18mm|15mm|6mm|2,20m|2,75x1,85m|3m|{m}m|{cm}cm|60x210|70x210|80x210|82x210", "?pinus|eucalipto|cedrinho|angelim|cambara|tratado|bruto|aparelhado|cru|resinado|plastificado|branco"],
     "Eucatex|Guararapes|Berneck|Arauco|Duratex|Sincol|Pormade|Randa|Masisa|LP Brasil|Madeireira Uniao|Madepar|Portas Bello|Rohden|Madeiranit|Fibraplac", 0, None, "Madeira de reflorestamento"),
    (MC, "drywall_gesso", "placa de gesso|placa de drywall|chapa de drywall|gesso em po|gesso cola|gesso acartonado|perfil montante|perfil guia|perfil para drywall|massa para drywall|fita para drywall|placa de gesso 60x60|forro de gesso|sanca de gesso|cantoneira de gesso",
     ["?ST|RU|RF|12,5mm|{mm}mm|1,20x1,80m|1,20x2,40|48mm|70mm|{kg}kg|40kg|1kg|3m|{m}m|60x60|{cm}x{cm}cm", "?standard|resistente a umidade|resistente ao fogo|verde|rosa|branca|galvanizado|lento|rapido"],
     "Placo|Knauf|Gypsum|Trevo|Gesso Trevo|Lafarge Gypsum|Gessomax|Drywall Brasil|Brasilit Gesso|Gyptec|Gesso Uniao|Ananda Metais|Barbieri Perfis|Sulgesso", 0, None, "Para paredes e forros internos"),
    (MC, "forro", "forro PVC|forro de PVC|forro de madeira|forro modular|forro mineral|forro PVC frisado|forro PVC liso|acabamento para forro|roda forro|meia cana|perfil arremate forro|forro vinilico",
     ["?200mm|100mm|250mm|{mm}mm|10cm|20cm|6m|{m}m|3m|{m2}m2|625x625", "?branco|gelo|amadeirado|frisado|liso|bege|cinza|caixa|barra|pacote"],
     "Plasbil|Forrobom|Medabil|Forro Mais|Araforros|Plastiforro|Forro Brasil|Topforro|Armstrong|OWA|Amanco Forros", 0, "test", ""),
    (MC, "fechadura_mc", "fechadura|fechadura externa|fechadura interna|fechadura para porta|fechadura de banheiro|fechadura eletronica|fechadura de sobrepor|cadeado|dobradica|macaneta|puxador|tranca|trinco|ferrolho|mola aerea|olho magico|fechadura tetra|cilindro para fechadura|kit macaneta",
     ["?{mm}mm|40mm|55mm|{n} pinos|tetra|{pol} pol|3 1/2 pol|{cm}cm|alavanca|roseta|espelho", "?cromada|inox|latao|bronze|preta|cromo acetinado|zamac|para porta de madeira|para porta de aluminio|com chave"],
     "Pado|Papaiz|Stam|Alianca|Soprano|Imab|La Fonte|Arouca|Gold|3F|MGM|Lockwell|Yale|Assa Abloy|Haga|Silvana|Pado Tetra|Vault|Stam Pro", 0, None, "Acompanha 3 chaves|Para portas de madeira"),
    (MC, "adesivo_selante", "cola PVC|adesivo PVC|cola para cano|silicone acetico|silicone neutro|silicone incolor|espuma expansiva|espuma de poliuretano|selante PU|adesivo epoxi|adesivo para piso|cola branca|cola de contato|adesivo PU|massa epoxi|veda rosca liquido|selante acrilico|cola para madeira|pistola para silicone|aplicador de silicone",
     ["?75g|175g|850g|17g|280g|300ml|500ml|750ml|{g}g|{ml}ml|{kg}kg|1kg|tubo|bisnaga|frasco|lata", "?incolor|branco|preto|cinza|transparente|uso geral|alta aderencia|antimofo"],
     "Tigre|Amanco|Tekbond|Sika|Quartzolit|Loctite|Pulvitec|Tytan|Orbi|Henkel|Cascola|Tenaz|Brascola|Vedacit|Krona|Ciplak|Polystic|Polyflex|Unipega|Rayflex|Vonder|Sikaflex|Rodabrill|Fortlev", 0, None,
     "Para vedacao de esquadrias e juntas|Alta aderencia em diversas superficies"),
    (MC, "filtro_agua", "filtro de agua|filtro de entrada para caixa d'agua|refil para purificador de agua|vela filtrante|filtro de torneira|filtro para piscina|refil de filtro de agua|filtro central de agua|filtro de areia para piscina|carvao ativado para filtro|filtro tela para caixa d'agua|purificador de agua",
     ["?3/4 pol|1 pol|1/2 pol|{mm}mm|9 3/4 pol|10 pol|20 pol|{lh} L/h|{l}L", "?com carvao ativado|polipropileno|elemento filtrante|rosca|de parede|bivolt|branco|azul|para caixa d'agua|para poco"],
     "Fortlev|Tigre|Acquabios|Hidrofiltros|Aquaflux|Europa|IBBL|Latina|Pentair|Sodramar|Acqualimp|Libell|Aqualar|Stiner|Planeta Agua|Everpure|Fluxo Filtros", 0, None,
     "Retem impurezas da agua|Troca do refil a cada 6 meses|Para agua potavel"),
    (MC, "extensao", "extensao eletrica|extensao|benjamim|adaptador de tomada|plug macho|plugue femea|plugue macho 10A|plug femea|filtro de linha para obra|extensao com carretel|carretel de extensao|adaptador T|tomada de sobrepor com cabo|rabicho|filtro de linha eletrico",
     ["?3 tomadas|{n} tomadas|10A|20A|2P+T|5m|10m|20m|{m}m|3 metros|50m|{sqmm}mm", "?branco|preto|laranja|com interruptor|padrao novo|com fio|bivolt|PP"],
     "Pial|Fame|Force Line|Margirius|Ilumi|Sil|Tramontina|Enerbras|Foxlux|Vonder|Perlex|Daneva|Pluzie|Duxbrasil|Force|Cemar|Alumbra|Elinox", 0, None, "Para uso residencial e em obras"),
    (MC, "epi", "luva de raspa|luva nitrilica|luva de latex|luva de vaqueta|capacete de seguranca|oculos de protecao|oculos de seguranca|protetor auricular|abafador de ruido|botina de seguranca|bota de borracha|mascara PFF2|respirador|cinto de seguranca paraquedista|talabarte|colete refletivo|cone de sinalizacao|fita zebrada|avental de raspa|perneira",
     ["?tamanho {tam}|tam {tam}|P|M|G|GG|{n}|par|aba frontal|aba total|classe B|com CA|CA {ca}|{cm}cm|{m}m", "?amarelo|branco|azul|incolor|fume|preta|laranja|antiembacante|com valvula|bico de aco|bico de PVC"],
     "3M|Kalipso|Danny|Marluvas|Vonder|Plastcor|Volk|MSA|Bracol|Carbografite|Steelflex|Ledan|Delta Plus|Mucambo|Super Safety|Fujiwara|Kadesh|Camper|Libus|Maxi Safety", 0, None, "Equipamento de protecao individual com CA"),
    (MC, "calha", "calha|calha galvanizada|calha de PVC|rufo|rufo galvanizado|condutor para calha|bocal para calha|cabeceira para calha|suporte para calha|pingadeira|chapa galvanizada|caixa de gordura|caixa de inspecao|tampa de concreto|grelha|grelha de ferro",
     ["?{cm}cm|{mm}mm|3m|{m}m|1m|corte {cm}|chapa 28|chapa 26|n 28|100mm|50x50|40x40|{cm}x{cm}cm", "?galvanizado|PVC|branco|cinza|aluminio|de concreto|com tampa|pre-moldado"],
     "Tigre|Amanco|Aquapluv|Fortlev|Calhas Brasil|Galvacal|Metalurgica Rufos|Precon|Astra|Acqualimp|Krona|Tigre Aquapluv", 0, None, "Para captacao de agua da chuva"),
    (MC, "janela_porta", "janela de aluminio|janela de correr|janela basculante|vitro|vitro basculante|porta de aluminio|porta de correr|porta de giro|porta de aco|porta sanfonada|porta de PVC|portao de garagem|portao basculante|grade de ferro|vidro temperado|veneziana|box para banheiro|box de vidro|esquadria",
     ["?{cm}x{cm2}cm|100x120|120x100|60x60|80x210|70x210|2 folhas|4 folhas|{n} folhas|{cm}x{cm}|60x40|8mm|{mm}mm", "?branco|preto|bronze|fosco|incolor|com grade|com vidro|lado direito|lado esquerdo|LD|LE|linha 25|linha suprema"],
     "Sasazaki|Gerdau Portas|Atlantica|Mgm Esquadrias|Lucasa|Brimak|Ebel|Sherwin Esquadrias|Alumifort|Vitrobox|Blindex|Cebrace|Esquadrias Brasil|Ultraline|Itapua|Casa Forte", 0, None, "Esquadria de aluminio com vidro"),
    (MC, "motor_eletrico", "motor eletrico|motor eletrico trifasico|motor eletrico monofasico|motor para portao|motor para portao eletronico|inversor de frequencia|contator|rele termico|chave de partida|rele de tempo|chave boia|chave boia eletrica|automatico de boia|botoeira|chave seletora|transformador",
     ["?{cv}cv|1cv|2cv|1/2cv|{amp}A|220V|380V|127V|bivolt|{n} polos|4 polos|2 polos|IP55|{kva}kVA", "?monofasico|trifasico|deslizante|basculante|pivotante|com controle|{n} controles|com sensor"],
     "WEG|Siemens|Schneider|Eberle|Voges|PPA|Garen|Rossi|Peccinin|Nice|Ecp|Margirius|Tramontina|Anauger|Steck|Lukma|Kohlbach|Jng", 0, None, "Para acionamento de bombas e portoes"),
]

# Placeholders inside names/slots/descs: "{key}" -> a random value from _FILL[key].
_FILL = {
    "n": lambda r: str(r.choice([2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 25, 50, 100])),
    "n2": lambda r: str(r.choice([15, 21, 27, 36, 40, 45, 60, 72])),
    "mm": lambda r: str(r.choice([6, 8, 10, 12, 15, 18, 20, 22, 25, 32, 40, 50, 60, 75, 100, 120, 180, 200, 228, 240, 256, 280])),
    "cm": lambda r: str(r.choice([10, 15, 20, 25, 30, 40, 45, 50, 60, 70, 80, 90, 100, 120])),
    "cm2": lambda r: str(r.choice([20, 30, 40, 45, 60, 90, 120, 210, 240])),
    "m": lambda r: str(r.choice([1, 2, 3, 5, 10, 15, 20, 25, 30, 50, 100, 305])),
    "m2": lambda r: r.choice(["1,5", "2", "2,5", "2,05", "1,62", "2,16", "2,88", "3"]),
    "m3": lambda r: r.choice(["1", "2", "3", "0,5", "5"]),
    "pol": lambda r: r.choice(["7", "9", "10", "12", "14", "15", "16", "18", "19", "21", "22", "24", "27", "32"]),
    "aro": lambda r: r.choice(["13", "14", "15", "16", "17", "18"]),
    "kg": lambda r: str(r.choice([1, 2, 5, 10, 15, 20, 25, 40, 50])),
    "l": lambda r: r.choice(["1", "3,6", "5", "10", "15", "18", "20", "60", "310", "500", "1000"]),
    "ml": lambda r: str(r.choice([70, 100, 200, 250, 300, 400, 500, 900])),
    "g": lambda r: str(r.choice([1, 2, 3, 4, 5, 10, 17, 50, 75, 100, 250])),
    "w": lambda r: str(r.choice([5, 10, 20, 25, 30, 40, 50, 60, 65, 90, 100, 150, 200, 300, 500, 600, 750, 1000])),
    "amp": lambda r: str(r.choice([2, 5, 10, 15, 16, 20, 25, 30, 32, 40, 50, 60, 63, 70, 80, 90, 100, 120])),
    "v": lambda r: r.choice(["127", "220", "12", "24", "110"]),
    "vb": lambda r: r.choice(["12", "18", "20", "36", "40"]),
    "ah": lambda r: r.choice(["1,5", "2", "3", "4", "5", "6"]),
    "cv": lambda r: r.choice(["1/4", "1/3", "1/2", "3/4", "1", "1,5", "2", "3", "5"]),
    "va": lambda r: str(r.choice([300, 500, 600, 700, 800, 1000, 1200, 1500, 2000, 3000])),
    "mah": lambda r: str(r.choice([2200, 3000, 4400, 5000, 5200, 10000, 20000])),
    "mbs": lambda r: str(r.choice([450, 500, 520, 550, 560, 2100, 3500, 5000, 7000])),
    "mhz": lambda r: str(r.choice([1333, 1600, 2400, 2666, 3200, 3600, 4800, 5200])),
    "dpi": lambda r: str(r.choice([800, 1000, 1200, 1600, 2400, 3200, 4000, 6400, 12000, 16000, 26000])),
    "rpm": lambda r: str(r.choice([1200, 1500, 2000, 2800, 3000, 3450, 5400, 7200, 11000, 12000])),
    "ram": lambda r: str(r.choice([4, 8, 16, 32])),
    "ssd": lambda r: str(r.choice([128, 240, 256, 480, 512, 1000])),
    "gb": lambda r: str(r.choice([32, 64, 128, 256])),
    "vram": lambda r: str(r.choice([2, 4, 6, 8, 12, 16])),
    "cpu": lambda r: r.choice(["10100F", "10105F", "12100F", "12400F", "13400", "10400", "11400", "12700K", "13700", "9100F"]),
    "rz": lambda r: r.choice(["5600G", "5500", "4600G", "5700X", "7600", "5800X3D", "3200G", "8600G"]),
    "ghz": lambda r: r.choice(["3,6", "3.9", "4,2", "4.4", "3,3", "4.6"]),
    "socket": lambda r: r.choice(["Intel", "AMD", "Intel e AMD"]),
    "ppm": lambda r: str(r.choice([10, 15, 20, 22, 28, 30, 33, 40])),
    "pag": lambda r: str(r.choice([1000, 1500, 1600, 2000, 2600, 3000, 10000])),
    "lumens": lambda r: str(r.choice([2000, 3000, 3300, 3600, 4000, 5000])),
    "fps": lambda r: str(r.choice([30, 60])),
    "wmk": lambda r: r.choice(["8,5", "12,5", "4", "6"]),
    "cca": lambda r: str(r.choice([330, 360, 400, 420, 450, 500, 600, 700])),
    "ahauto": lambda r: str(r.choice([36, 40, 42, 45, 48, 50, 54, 55, 58, 60, 62, 65, 68, 70, 72, 75, 80, 90, 95, 100, 105, 150, 170, 180])),
    # battery model codes: letters + Ah + letters (e.g. "Z50D", "M40FD"-like shapes)
    "bcode": lambda r: (r.choice(["", "M", "Z", "HF", "ZTS", "B", "R", "MF", "T", "S"])
                        + str(r.choice([36, 40, 45, 48, 50, 55, 60, 65, 70, 75, 80, 90, 100, 150]))
                        + r.choice(["D", "E", "GD", "FD", "AD", "KD", "HD", "DD", "ED", "LD", "BE", "X", "RD"])),
    "temp": lambda r: str(r.choice([82, 83, 87, 88, 89, 92, 95])),
    "bar": lambda r: r.choice(["3", "3,5", "4", "4,5"]),
    "ton": lambda r: r.choice(["1,5", "2", "3", "5", "10", "12"]),
    "sqmm": lambda r: r.choice(["1", "1,5", "2,5", "4", "6", "10", "16", "25", "35"]),
    "db": lambda r: str(r.choice([105, 110, 118, 125])),
    "grana": lambda r: str(r.choice([36, 40, 60, 80, 100, 120, 150, 180, 220, 320, 400, 600, 800, 1000, 1200, 1500, 2000])),
    "len": lambda r: str(r.choice([855, 1035, 1195, 1225, 1375, 1600, 1750, 2040])),
    "mpa": lambda r: r.choice(["3", "4,5", "6", "8"]),
    "ka": lambda r: r.choice(["3", "4,5", "5", "6", "10"]),
    "kva": lambda r: r.choice(["0,5", "1", "3", "5", "15"]),
    "mca": lambda r: str(r.choice([10, 15, 20, 25, 30, 40, 60])),
    "lh": lambda r: str(r.choice([1000, 1500, 2000, 2500, 3000, 6000])),
    "k": lambda r: str(r.choice([2700, 3000, 4000, 5000, 6000, 6500])),
    "tam": lambda r: r.choice(["P", "M", "G", "GG", "8", "9", "10", "38", "39", "40", "41", "42", "43"]),
    "ca": lambda r: str(r.randint(10000, 45000)),
    "letter": lambda r: r.choice("ABCDEFGHJKLMNPRSTVWXZ"),
    "color": lambda r: r.choice(_opts(COLORS)),
    "colorauto": lambda r: r.choice(_opts(
        "prata sirius|preto ninja|branco geada|vermelho tornado|cinza grafite|prata estrela|branco polar|"
        "preto vulcano|azul monaco|prata bari|vermelho alpine|cinza quartzo|branco perolizado|preto universal|prata metalico")),
    "colormc": lambda r: r.choice(_opts(
        "branco neve|branco gelo|palha|areia|concreto|camurca|marfim|cinza urbano|verde primavera|azul sereno|"
        "amarelo canario|vermelho cardinal|perola|branco fosco|erva doce|pessego|cinza elefante|preto fosco|tabaco|terracota")),
}
_PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")


def _fill(rng: random.Random, text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: _FILL[m.group(1)](rng), text)


def _build_types() -> list[PType]:
    types = []
    seen = set()
    for cat, key, names, slots, brands, vehicle, holdout, descs in _T:
        assert key not in seen, key
        seen.add(key)
        types.append(PType(
            category=cat, key=key, names=tuple(_opts(names)), slots=tuple(slots),
            brands=tuple(_opts(brands)) if brands else (), vehicle=float(vehicle),
            holdout=holdout, descs=tuple(_opts(descs)) if descs else ()))
    return types


PRODUCT_TYPES = _build_types()

# --------------------------------------------------------------------------
# Vehicle applications (AUTOPECAS)
# --------------------------------------------------------------------------


def _vehicle_models() -> list[tuple[str, list[str], str]]:
    out = []
    for makes, models in VEHICLES:
        for model in _opts(models):
            out.append((model, _opts(makes), vocab_split(model)))
    return out


VEHICLE_MODELS = _vehicle_models()


def _years(rng: random.Random) -> str:
    a = rng.randint(1994, 2023)
    b = min(2025, a + rng.randint(1, 8))
    fmt = rng.randrange(12)
    if fmt == 0:
        return str(a)
    if fmt == 1:
        return f"{a}/{b}"
    if fmt == 2:
        return f"{a % 100:02d}/{b % 100:02d}"
    if fmt == 3:
        return f"{a} a {b}"
    if fmt == 4:
        return f"{a} em diante"
    if fmt == 5:
        return f"{a}>"
    if fmt == 6:
        return f"{a % 100:02d}>"
    if fmt == 7:
        return f"{a} ate {b}"
    if fmt == 8:
        return f"({a}-{b})"
    if fmt == 9:
        return f"ano {a}"
    if fmt == 10:
        return f"{a % 100:02d} a {b % 100:02d}"
    return f"{a}..{b}"


def vehicle_application(rng: random.Random, split: str, prefix: bool = True) -> str:
    pool = [v for v in VEHICLE_MODELS if v[2] == split]
    model, makes, _ = rng.choice(pool)
    r = rng.random()
    parts = []
    if rng.random() < 0.25:
        parts.append(rng.choice(makes))
    parts.append(model)
    if r < 0.15:  # several models: "Gol/Voyage/Saveiro"
        others = [rng.choice(pool)[0] for _ in range(rng.randint(1, 2))]
        parts[-1] = "/".join([model] + others)
    if rng.random() < 0.45:
        parts.append(rng.choice(ENGINES))
    if rng.random() < 0.15:
        parts.append(rng.choice(FUELS))
    if rng.random() < 0.5:
        parts.append(_years(rng))
    app = " ".join(parts)
    pre = rng.random() if prefix else 1.0
    if pre < 0.15:
        app = "p/ " + app
    elif pre < 0.25:
        app = "para " + app
    elif pre < 0.3:
        app = "aplic. " + app
    elif pre < 0.33:
        app = "linha " + app
    return app


# --------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------

ABBREV = {
    "dianteiro": "diant|diant.|diant|dia|dt", "dianteira": "diant|diant.|dianteira|dt",
    "traseiro": "tras|tras.|tras|tr|traz", "traseira": "tras|tras.|tr",
    "esquerdo": "esq|le|esq.", "direito": "dir|ld|dir.", "lado": "ld|lado",
    "com": "c/|c/|com", "para": "p/|p/|pra", "sem": "s/", "de": "", "do": "", "da": "",
    "jogo": "jg|jg.|jgo", "unidade": "un|und", "unidades": "un|unds|pcs", "peca": "pc|pç", "pecas": "pcs|pçs",
    "caixa": "cx|cx.", "pacote": "pct|pct.", "metros": "m|mts|mt", "metro": "m|mt", "polegadas": "pol|\"",
    "pol": "\"|pol.|pol", "litros": "l|lts", "superior": "sup|sup.", "inferior": "inf|inf.",
    "interno": "int|int.", "interna": "int", "externo": "ext|ext.", "externa": "ext",
    "automatico": "autom|aut.", "eletrico": "elet|elet.|eletr", "eletrica": "elet|eletr", "hidraulico": "hidr|hid.",
    "hidraulica": "hidr|hid.", "flexivel": "flex|flexiv", "branco": "bco|br|branc", "branca": "bca|br", "preto": "pto|pt",
    "preta": "pta|pt", "amarelo": "am|amar", "vermelho": "verm|vm", "conjunto": "cj|conj", "reforcado": "ref|reforc",
    "universal": "univ|univ.", "acabamento": "acab", "galvanizado": "galv|galv.", "ceramico": "cer|ceram",
    "ceramica": "cer|ceram", "porcelanato": "porcel|porc", "impressora": "impres|impr", "notebook": "note|nb|notbook",
    "computador": "comp|pc", "teclado": "tecl", "monitor": "monit", "cartucho": "cart|cartuch", "memoria": "mem|memo",
    "processador": "proc|process", "adaptador": "adapt|adapt.|adap", "carregador": "carreg|carr", "amortecedor": "amort|amortec",
    "rolamento": "rol|rolam", "embreagem": "embr|embreag", "suspensao": "susp|susp.", "radiador": "rad|radiad",
    "junta": "jta|jt", "retentor": "ret|retent", "cilindro": "cil|cilind", "mangueira": "mang|mangueir", "valvula": "valv|vlv",
    "registro": "reg|regist", "argamassa": "arg|argam", "tubo": "tb|tub", "conexao": "conex", "joelho": "jlh|joel",
    "tomada": "tom|tmd", "interruptor": "interr|int", "lampada": "lamp|lamp.|lampad", "fechadura": "fech|fechad",
    "torneira": "torn|torneir", "chuveiro": "chuv|chuveir", "parafuso": "paraf|paraf.|pf", "sextavado": "sext|sextav",
    "soldavel": "sold|sold.", "esgoto": "esg", "aluminio": "alum|alumin", "madeira": "mad|madeir", "resistencia": "resist|res",
    "pastilha": "past|pastilh|past.", "pastilhas": "past|pastilhs", "freio": "fr|freio", "ignicao": "ign|ignic",
    "combustivel": "comb|combust", "filtro": "filt|fltr|filtro", "bateria": "bat|bater|bat.", "tinta": "tnt|tinta",
    "acrilica": "acril|acr", "sintetico": "sint|sintet", "semissintetico": "semi sint|semissint", "automotivo": "auto|autom",
    "automotiva": "auto|autom", "profissional": "prof|profis", "ferramenta": "ferram|ferr", "gigabit": "giga|gb",
    "wireless": "wirel|s/ fio", "bivolt": "biv|bivolt", "estabilizador": "estab|estabiliz", "gabinete": "gab|gabin",
    "quadro": "qdr|qd", "disjuntor": "disj|disj.", "distribuicao": "distrib|dist", "caixa d'agua": "cx d'agua|cx dagua",
    "acessorios": "acess", "protecao": "prot|protec", "vedacao": "ved|vedac", "temperatura": "temp|temper",
    "placa": "pl|plac", "cabo": "cb|cabo", "flexivel de freio": "flex freio", "mecanico": "mec|mecan",
    "polietileno": "polietil|pe", "fibrocimento": "fibrocim|fibroc", "concreto": "conc|concr",
}
_ABBREV = {k: _opts(v) for k, v in ABBREV.items()}

ACCENTED = {
    "automotiva": "automotiva", "eletrico": "elétrico", "eletrica": "elétrica", "hidraulico": "hidráulico",
    "hidraulica": "hidráulica", "flexivel": "flexível", "ceramico": "cerâmico", "ceramica": "cerâmica",
    "memoria": "memória", "suspensao": "suspensão", "valvula": "válvula", "conexao": "conexão", "lampada": "lâmpada",
    "ignicao": "ignição", "combustivel": "combustível", "acrilica": "acrílica", "sintetico": "sintético",
    "semissintetico": "semissintético", "protecao": "proteção", "vedacao": "vedação", "distribuicao": "distribuição",
    "aluminio": "alumínio", "oleo": "óleo", "agua": "água", "d'agua": "d'água", "direcao": "direção", "pressao": "pressão",
    "cabecote": "cabeçote", "pistao": "pistão", "pistoes": "pistões", "aneis": "anéis", "transmissao": "transmissão",
    "cambio": "câmbio", "velocimetro": "velocímetro", "capo": "capô", "pivo": "pivô", "balanca": "balança",
    "plato": "platô", "estabilizadora": "estabilizadora", "solido": "sólido", "macaneta": "maçaneta",
    "eletronico": "eletrônico", "eletronica": "eletrônica", "acessorios": "acessórios", "videa": "vídea",
    "reforcado": "reforçado", "reforcada": "reforçada", "rigido": "rígido", "estado": "estado",
    "optico": "óptico", "padrao": "padrão", "botoes": "botões", "graficos": "gráficos", "mae": "mãe",
    "video": "vídeo", "rapido": "rápido", "rapida": "rápida", "portatil": "portátil", "digitalizacao": "digitalização",
    "copia": "cópia", "impressao": "impressão", "licenca": "licença", "usuario": "usuário", "usuarios": "usuários",
    "gestao": "gestão", "antivirus": "antivírus", "ergonomico": "ergonômico", "projecao": "projeção",
    "metalico": "metálico", "manutencao": "manutenção", "tensao": "tensão", "seguranca": "segurança",
    "camera": "câmera", "mecanico": "mecânico", "semi": "semi", "fosca": "fosca", "economica": "econômica",
    "maritimo": "marítimo", "cal": "cal", "agua fria": "água fria", "lavatorio": "lavatório", "sifao": "sifão",
    "sanitario": "sanitário", "sanitaria": "sanitária", "trelica": "treliça", "vergalhao": "vergalhão",
    "abracadeira": "abraçadeira", "eletroduto": "eletroduto", "guarnicao": "guarnição", "tabua": "tábua",
    "portao": "portão", "contator": "contator", "boia": "bóia", "inducao": "indução", "termico": "térmico",
    "termica": "térmica", "condutor": "condutor", "calca": "calça", "oculos": "óculos", "protetor": "protetor",
    "latex": "látex", "nitrilica": "nitrílica", "centrifuga": "centrífuga", "periferica": "periférica",
    "trifasico": "trifásico", "monofasico": "monofásico", "frequencia": "frequência", "temporizado": "temporizado",
    "presenca": "presença", "iluminacao": "iluminação", "fotoeletrico": "fotoelétrico", "crepuscular": "crepuscular",
    "graus": "graus", "pincel": "pincel", "espatula": "espátula", "picareta": "picareta", "videos": "vídeos",
    "ate": "até", "nao": "não", "cabeca": "cabeça", "frances": "francês", "acetico": "acético",
    "epoxi": "epóxi", "emulsao": "emulsão", "asfaltica": "asfáltica", "polimerica": "polimérica",
    "terracos": "terraços", "esquadria": "esquadria", "basculante": "basculante", "porcelanatos": "porcelanatos",
    "vinilico": "vinílico", "hidraulico.": "hidráulico.", "eletrolitico": "eletrolítico", "instalacoes": "instalações",
    "residenciais": "residenciais", "construcao": "construção", "padrao novo": "padrão novo", "obras": "obras",
    "uniao": "união", "soleira": "soleira", "ladrilho": "ladrilho", "rodape": "rodapé", "cimenticio": "cimentício",
    "notebooks": "notebooks", "perifericos": "periféricos", "computadores": "computadores", "alimentacao": "alimentação",
    "tecnicos": "técnicos", "informatica": "informática", "instalacao": "instalação", "fabricacao": "fabricação",
    "garantia": "garantia", "funcionamento": "funcionamento", "eletricos": "elétricos", "especificacao": "especificação",
    "mecanicas": "mecânicas", "repintura": "repintura", "aplicacao": "aplicação", "compativel": "compatível",
    "micro": "micro", "bobina": "bobina", "ventoinha": "ventoinha", "reservatorio": "reservatório", "intermediario": "intermediário",
    "catalisador": "catalisador", "calco": "calço", "coxim": "coxim", "semi eixo": "semi-eixo", "homocinetica": "homocinética",
    "termostatica": "termostática", "ceramicos": "cerâmicos", "decorativa": "decorativa", "movel": "móvel",
    "espelho": "espelho", "eletricas": "elétricas", "superficies": "superfícies", "aderencia": "aderência",
}


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def _accentuate(rng: random.Random, s: str) -> str:
    """The vocabulary is written without accents; put the proper ones back (like a careful clerk)."""
    def sub(m: re.Match) -> str:
        w = m.group(0)
        return ACCENTED.get(w.lower(), w) if rng.random() < 0.9 else w
    return re.sub(r"[A-Za-z']+", sub, s)


def _abbreviate(rng: random.Random, s: str, level: float) -> str:
    out = []
    for w in s.split(" "):
        key = w.lower()
        if key in _ABBREV and rng.random() < level:
            rep = rng.choice(_ABBREV[key])
            if rep:
                out.append(rep)
        else:
            out.append(w)
    return " ".join(out)


_KEYB = "qwertyuiopasdfghjklzxcvbnm"


def _typo(rng: random.Random, s: str) -> str:
    words = s.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not idx:
        return s
    i = rng.choice(idx)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        w = w[:j] + w[j + 1:]  # drop
    elif kind == 1:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]  # swap
    elif kind == 2:
        w = w[:j] + w[j] + w[j:]  # double
    else:
        w = w[:j] + rng.choice(_KEYB) + w[j + 1:]  # wrong key
    words[i] = w
    return " ".join(words)


def add_typo(rng: random.Random, s: str) -> str:
    """One typo like the generator's own (drop, swap, double or wrong key, in a word of 5+
    letters; unchanged if there is none). ml/train.py uses it for a typo-stressed validation."""
    return _typo(rng, s)


_UNIT = re.compile(r"(\d)\s?(kg|KG|Kg|mm2|mm|cm|m|L|l|ml|W|V|A|Ah|VA|GB|TB|MHz|cv|pol|K)\b")


def _units(rng: random.Random, s: str) -> str:
    """50kg / 50 kg / 50KG; 2,5 / 2.5."""
    style = rng.randrange(3)

    def sub(m: re.Match) -> str:
        unit = m.group(2)
        if style == 1:
            return f"{m.group(1)} {unit}"
        if style == 2:
            return f"{m.group(1)}{unit.upper() if unit not in ('m', 'l') else unit}"
        return f"{m.group(1)}{unit}"
    s = _UNIT.sub(sub, s)
    if rng.random() < 0.3:
        s = re.sub(r"(\d),(\d)", r"\1.\2", s)
    return s


def _code(rng: random.Random) -> str:
    k = rng.randrange(8)
    if k == 0:
        return str(rng.randint(100, 999999))
    if k == 1:
        return f"{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.randint(10, 99999)}"
    if k == 2:
        return f"{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}-{rng.randint(100, 9999)}"
    if k == 3:
        return f"{rng.randint(10, 999)}.{rng.randint(100, 999)}"
    if k == 4:
        return "789" + "".join(str(rng.randrange(10)) for _ in range(10))  # EAN-13 like
    if k == 5:
        return f"{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
    if k == 6:
        return f"{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.randint(1000, 99999)}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
    return f"{rng.randint(1, 9)}{rng.choice('ABCDEFGHJKLMNPRSTVWXZ')}{rng.randint(100, 9999)}"


_PREFIX = ["{c} - ", "{c} ", "[{c}] ", "COD {c} ", "COD.{c} ", "REF {c} ", "#{c} ", "*", "{c}-"]
_SUFFIX = [" - {c}", " REF:{c}", " ({c})", " #{c}", " CX C/ {n}", " UN", " PC", " KIT", " PROMO", " NOVO",
           " OFERTA", " CX{n}", " - LINHA PREMIUM", " ORIGINAL", " IMPORTADO", " GENERICO", " (ALT)", " *", " 1UN",
           " EMB C/{n}", " - {c} - ", " REF. {c}", " COD.FAB {c}", " 1a LINHA", " OUTLET", " LIQUIDA", " ULTIMAS UNID"]


def _stray(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.45:
        return _PREFIX[rng.randrange(len(_PREFIX))].format(c=_code(rng)) + s
    return s + _SUFFIX[rng.randrange(len(_SUFFIX))].format(c=_code(rng), n=rng.choice([2, 4, 5, 6, 10, 12, 20, 50, 100]))


def _case(rng: random.Random, s: str, upper_p: float = 0.45) -> str:
    r = rng.random()
    if r < upper_p:
        return s.upper()
    if r < upper_p + 0.12:
        return s.lower()
    if r < upper_p + 0.25:
        return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in s.split(" "))
    return s[:1].upper() + s[1:]


# --------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------

_NEUTRAL_DESCS = _opts(
    "Produto novo, na embalagem original|Garantia de 3 meses contra defeitos de fabricacao|Garantia de 12 meses|"
    "Vendido por unidade|Embalagem com {n} unidades|Cor: {color}|Imagem meramente ilustrativa|Pronta entrega|"
    "Consulte disponibilidade no estoque|Produto com nota fiscal|Nao aceitamos devolucao de produto usado|"
    "Peso aproximado de {kg} kg|Envio imediato|Verificar medidas antes da compra|Qualidade garantida|"
    "Produto importado|Fabricado no Brasil|Item de reposicao|Codigo do fabricante {code}|Lote {code}|"
    "Mercadoria sujeita a conferencia|Produto de linha|Sob encomenda|Cadastro revisado")


def _description(rng: random.Random, pt: PType, split: str, app: str) -> str:
    bits = []
    if pt.descs and rng.random() < 0.7:
        bits.append(rng.choice(pt.descs))
    if app and rng.random() < 0.6:
        vapp = vehicle_application(rng, split, prefix=False)
        bits.append(rng.choice(["Aplicacao: ", "Compativel com ", "Serve em ", "Aplicacao "]) + vapp)
    if not bits or rng.random() < 0.4:
        bits.append(rng.choice(_NEUTRAL_DESCS))
    rng.shuffle(bits)
    text = ". ".join(bits)
    text = _PLACEHOLDER.sub(lambda m: _code(rng) if m.group(1) == "code" else _FILL[m.group(1)](rng), text)
    if rng.random() < 0.5:
        text = _accentuate(rng, text)
    if rng.random() < 0.15:
        text = text.upper()
    if rng.random() < 0.5:
        text += "."
    return text


def _pick_slot(rng: random.Random, slot: str) -> str:
    if slot.startswith("?"):
        if rng.random() < 0.45:
            return ""
        slot = slot[1:]
    return _fill(rng, rng.choice(_opts(slot)))


def names_for(pt: PType, split: str) -> list[str]:
    """Name variants (synonyms, word orders) usable in a split.

    Variants are split like brands; training only ever sees the train
    variants (all of them when hashing left none), val/test also get
    their own unseen variants when the type has some.
    """
    train = [n for n in pt.names if name_split(n) == "train"] or list(pt.names)
    if split == "train":
        return train
    own = [n for n in pt.names if name_split(n) == split and n not in train]
    return own + train if own else train


def make_product(rng: random.Random, pt: PType, split: str) -> Product:
    names = names_for(pt, split)
    own = [n for n in names if split != "train" and name_split(n) == split and n not in names_for(pt, "train")]
    # half of a val/test product's names come from the split's own variants
    raw = rng.choice(own if own and rng.random() < 0.5 else names)
    noun = _fill(rng, raw)
    novelty = "type" if pt.holdout else ("name" if raw in own else "")
    specs = [v for v in (_pick_slot(rng, s) for s in pt.slots) if v]
    if len(specs) > 1 and rng.random() < 0.3:
        rng.shuffle(specs)
    brands = [b for b in pt.brands if vocab_split(b) == split]
    brand = rng.choice(brands) if brands and rng.random() < 0.88 else ""
    app = ""
    if pt.vehicle and rng.random() < pt.vehicle:
        app = vehicle_application(rng, split)
    pn = _code(rng) if rng.random() < 0.2 else ""

    # Layout of the name
    parts = [noun] + specs
    if app:
        pos = rng.random()
        if pos < 0.7:
            parts.append(app)
        else:
            parts.insert(1, app)
    brand_in_name = brand and rng.random() < 0.4
    if brand_in_name:
        pos = rng.random()
        if pos < 0.45:
            parts.append(brand)
        elif pos < 0.8:
            parts.insert(1, brand)
        else:
            parts.insert(0, brand)
    if pn:
        if rng.random() < 0.6:
            parts.append(pn)
        else:
            parts.insert(rng.randint(0, len(parts)), pn)
    sep = " " if rng.random() < 0.85 else rng.choice([" - ", " ", ", ", " / "])
    name = sep.join(parts)

    # Noise
    if rng.random() < 0.5:
        name = _accentuate(rng, name)
    level = rng.choice([0.0, 0.0, 0.25, 0.5, 0.8])
    if level:
        name = _abbreviate(rng, name, level)
    name = _units(rng, name)
    if rng.random() < 0.12:
        name = _typo(rng, name)
    if rng.random() < 0.22:
        name = _stray(rng, name)
    name = _case(rng, name)
    if rng.random() < 0.08 and len(name) > 40:  # ERP field length limit
        cut = rng.choice([40, 45, 50, 60])
        name = name[:cut].rstrip()
    name = re.sub(r" {2,}", " ", name).strip()

    brand_field = ""
    if brand and (not brand_in_name or rng.random() < 0.5) and rng.random() < 0.75:
        brand_field = _case(rng, brand, upper_p=0.4)
        if rng.random() < 0.05:
            brand_field = _typo(rng, brand_field)
    desc = _description(rng, pt, split, app) if rng.random() < 0.35 else ""
    return Product(pt.category, name, brand_field, desc, split, pt.key, novelty)


def types_for(category: str, split: str) -> list[PType]:
    return [t for t in PRODUCT_TYPES if t.category == category and t.holdout in (None, split)]


def type_weight(pt: PType) -> float:
    """Broad families (many name variants, e.g. hand tools) get more products than narrow ones."""
    return math.sqrt(len(pt.names))


def generate_catalog(seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[Product]]:
    """Products per split; per category `sizes[split]` products.

    Exact duplicates (same composed text) are dropped within a split, and a
    val/test product whose text also occurs in an earlier split is dropped.
    """
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    rng = random.Random(seed)
    seen: set[str] = set()
    out: dict[str, list[Product]] = {}
    for split in SPLITS:
        products: list[Product] = []
        for cat in LABELS:
            types = types_for(cat, split)
            cum = list(itertools.accumulate(type_weight(t) for t in types))
            n = 0
            attempts = 0
            while n < sizes[split]:
                attempts += 1
                if attempts > sizes[split] * 20:
                    raise RuntimeError(f"cannot generate enough unique products for {cat}/{split}")
                pt = types[bisect.bisect(cum, rng.random() * cum[-1])]
                p = make_product(rng, pt, split)
                key = p.text.lower()
                if key in seen:
                    continue
                seen.add(key)
                products.append(p)
                n += 1
        rng.shuffle(products)
        out[split] = products
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--sample", type=int, default=0, help="print N products of each split")
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("--split", default=None)
    args = ap.parse_args()
    cat = generate_catalog(args.seed)
    if args.stats:
        for split, ps in cat.items():
            print(split, len(ps), {c: sum(p.category == c for p in ps) for c in LABELS})
        for split in SPLITS:
            brands = sorted({p.brand.lower() for p in cat[split] if p.brand})
            print(split, "brands:", len(brands))
    for split, ps in cat.items():
        if args.split and split != args.split:
            continue
        for p in ps[: args.sample]:
            print(f"{split}\t{p.category}\t{p.name}\t{p.brand}\t{p.description}")


if __name__ == "__main__":
    main()
