"""The >= 1,000 (prediction, gold) pairs the metric tests score: randomized and adversarial.

Deterministic (seeded), so ``lighteval_golden.json`` (lighteval's own per-pair scores for these
pairs, made by ``make_lighteval_golden.py``) stays valid. Changing this file means regenerating it.
"""

import random

LABELS = ["HQ", "LQ_EDIT", "LQ_CLOSE"]

ADVERSARIAL = [
    ("", ""),
    ("", "HQ"),
    ("HQ", ""),
    (" ", ""),
    ("   ", "   "),
    ("\n\t", "HQ"),
    ("HQ", "HQ"),
    (" HQ ", "HQ"),
    ("HQ\n", " HQ"),
    ("hq", "HQ"),
    ("HQ.", "HQ"),
    ("**HQ**", "HQ"),
    ("`LQ_EDIT`", "LQ_EDIT"),
    ("LQ EDIT", "LQ_EDIT"),
    ("lq-edit", "LQ_EDIT"),
    ("LQ_EDIT", "LQ-EDIT"),
    ("The answer is HQ", "HQ"),
    ("The answer is HQ. The answer is HQ.", "HQ"),
    ("HQ or LQ_CLOSE", "LQ_CLOSE"),
    ("a", "an"),
    ("the", ""),
    ("The a an", "the"),
    ("A theory", "theory"),
    ("an apple a day", "apple day"),
    ("!!!", "?"),
    ("...", ""),
    ("1", "1.0"),
    ("1.50", "1.5"),
    ("1,000", "1000"),
    ("1_000", "1000"),
    ("-5", "5"),
    ("+5", "5"),
    ("nan", "NaN"),
    ("inf", "Infinity"),
    ("1e3", "1000"),
    ("١٢٣", "123"),
    ("Ünïcödé ÄÖÜ", "ünïcödé äöü"),
    ("ΣΑΣ ΟΔΟΣ", "σας οδος"),
    ("straße", "STRASSE"),
    ("İstanbul", "istanbul"),
    ("日本語の質問", "日本語の質問"),
    ("emoji 🙂 HQ", "HQ 🙂"),
    ("«HQ»", "HQ"),
    ("HQ—LQ_EDIT", "HQ LQ_EDIT"),
    ("tab\tseparated\twords", "tab separated words"),
    ("new\nline\r\nwords", "new line words"),
    ("a\nb", "b"),
    ("the-end", "end"),
    ("x - y", "x y"),
    ("co-operate", "co operate"),
    ("it's", "its"),
    ("C++ and C#", "c and c"),
    ("e.g. i.e.", "eg ie"),
    ("word " * 50, "word"),
    ("the the the", "the"),
    ("HQ HQ HQ LQ_EDIT", "HQ LQ_EDIT"),
    ("\u00a0HQ\u00a0", "HQ"),
    ("\u200bHQ", "HQ"),
    ("HQ\u3000", "HQ"),
    ("0", "0.0"),
    ("00", "0"),
    (".5", "0.5"),
    ("5.", "5"),
]

_WORDS = (
    "the a an question is high quality low edit close python code error because java how to fix my "
    "function returns null why does this not work please help thanks HQ LQ_EDIT LQ_CLOSE 1 2.0 3,5"
).split()
_NOISE = list(".,!?;:'\"()[]{}*_`#-/") + ["\n", "\t", "  ", "é", "ß", "ø", "™", "…"]


def _random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 25)):
        word = rng.choice(_WORDS)
        if rng.random() < 0.3:
            word = word.upper() if rng.random() < 0.5 else word.capitalize()
        if rng.random() < 0.25:
            word += rng.choice(_NOISE)
        parts.append(word)
    return " ".join(parts)


def metric_pairs(n_random: int = 1100, seed: int = 20261125) -> list[tuple[str, str]]:
    """Adversarial pairs first, then seeded random ones (labels, verbose answers, noise)."""
    rng = random.Random(seed)
    pairs = list(ADVERSARIAL)
    for _ in range(n_random):
        gold = rng.choice(LABELS) if rng.random() < 0.6 else _random_text(rng)
        kind = rng.random()
        if kind < 0.2:
            prediction = gold
        elif kind < 0.35:
            prediction = rng.choice(LABELS)
        elif kind < 0.45:
            prediction = rng.choice(
                [gold.lower(), f"**{gold}**", f"{gold}.", f" {gold}\n", gold.replace("_", " ")]
            )
        else:
            prediction = _random_text(rng) + (f" {gold}" if rng.random() < 0.5 else "")
        pairs.append((prediction, gold))
    return pairs
