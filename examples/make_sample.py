"""Generate examples/data/so_sample.csv: synthetic Stack-Overflow-like questions for the demo and tests.

Every row is made up from the templates below (nothing is copied from a real dataset). Each label has
its own cues, as the real classes do on average, so a small model can learn them in a short demo:
- HQ: a specific title, what was tried, a short code snippet and the exact error, polite and complete;
- LQ_EDIT: a vague title, a pasted code dump with no formatting, missing punctuation, "plz help";
- LQ_CLOSE: an opinion, recommendation or very broad question with no code at all.
Cues overlap on purpose (topics and some phrases are shared), so it is not a one-keyword task.

    python examples/make_sample.py [--rows-per-label 200] [--seed 7] [--out examples/data/so_sample.csv]
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "so_sample.csv"

TOPICS = [
    (
        "python",
        "list comprehension",
        "TypeError: 'NoneType' object is not iterable",
        "result = [f(x) for x in items]",
    ),
    ("python", "pandas groupby", "KeyError: 'date'", "df.groupby('date').sum()"),
    (
        "javascript",
        "promise chain",
        "TypeError: Cannot read properties of undefined (reading 'then')",
        "fetch(url).then(r => r.json())",
    ),
    ("javascript", "array map", "TypeError: data.map is not a function", "data.map(item => item.id)"),
    (
        "java",
        "HashMap iteration",
        "java.util.ConcurrentModificationException",
        "for (String k : map.keySet())",
    ),
    (
        "java",
        "stream collect",
        "java.lang.IllegalStateException: Duplicate key",
        "list.stream().collect(Collectors.toMap(A::id, a -> a))",
    ),
    (
        "c#",
        "async await",
        "System.InvalidOperationException: The operation is not valid",
        "var result = await client.GetAsync(uri);",
    ),
    (
        "c++",
        "vector iterator",
        "Segmentation fault (core dumped)",
        "for (auto it = v.begin(); it != v.end(); ++it)",
    ),
    (
        "sql",
        "left join",
        'ERROR: column "user_id" does not exist',
        "SELECT * FROM orders o LEFT JOIN users u ON o.user_id = u.id",
    ),
    (
        "php",
        "PDO prepared statement",
        "SQLSTATE[HY093]: Invalid parameter number",
        "$stmt->execute([':id' => $id]);",
    ),
    (
        "android",
        "RecyclerView adapter",
        "java.lang.NullPointerException at onBindViewHolder",
        "holder.title.setText(item.getTitle());",
    ),
    (
        "r",
        "data frame merge",
        "Error in fix.by(by.x, x) : 'by' must specify a uniquely valid column",
        'merge(a, b, by = "id")',
    ),
    ("go", "goroutine channel", "fatal error: all goroutines are asleep - deadlock!", "ch := make(chan int)"),
    (
        "rust",
        "borrow checker",
        "error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable",
        "let first = &v[0]; v.push(4);",
    ),
    (
        "typescript",
        "generic constraint",
        "error TS2345: Argument of type 'string' is not assignable",
        "function get<T extends keyof U, U>(o: U, k: T)",
    ),
    (
        "docker",
        "volume mount",
        "Error response from daemon: invalid mount config",
        "docker run -v ./data:/data app",
    ),
]

HQ_TITLES = [
    'Why does {concept} raise "{short_error}" when the input is empty?',
    "{concept} in {lang}: {short_error} only on the second call",
    'How to avoid "{short_error}" with {concept} in {lang}?',
]
# Short and long bodies in every class: the lengths overlap, so length alone does not give the label
# (and SFT's length-grouped batches mix the labels instead of holding one label each).
HQ_BODIES = [
    "Minimal example:\n\n    {code}\n\nIt fails with `{error}`. What am I missing?",
    "Given this {lang} snippet:\n\n    {code}\n\nI get `{error}` for an empty input. Is this documented?",
    "I am using {concept} in {lang} and get an error I cannot explain. Minimal example:\n\n"
    "    {code}\n\nThe full message is `{error}`. I read the documentation on {concept} and tried "
    "checking the input first, but the error stays. What am I missing?",
    "In {lang}, {concept} behaves differently from what I expected. Steps to reproduce:\n\n    {code}\n\n"
    "Result: `{error}`. Expected: no error. Thanks for any pointers.",
]
LQ_EDIT_TITLES = [
    "{lang} error plz help",
    "{concept} not working",
    "error in my code {lang}",
    "help with {concept} urgent",
]
LQ_EDIT_BODIES = [
    "{code} error {error} plz help",
    "i have this code {code} and it give error {error} i dont know why plz help me fix it its urgent",
    "my {concept} not work here is all code {code} {filler} {code} what is wrong?? someone help",
    "hi all i am new in {lang} {code} {filler} it says {error} how to solve this plz give me the code",
    "{code} {code} {filler} error: {error} i tried everything nothing works",
]
LQ_CLOSE_TITLES = [
    "What is the best way to learn {concept}?",
    "Which is better for {concept}: {lang} or something else?",
    "Is {lang} still worth learning in 2020?",
    "Recommend a good library for {concept}",
]
LQ_CLOSE_BODIES = [
    "I want to get better at {lang}. What is the best book or course about {concept}? Please share your "
    "opinions and experience.",
    "Is it a good idea to use {concept} in a big project or should I choose another approach? What do "
    "most developers prefer and why?",
    "Can someone recommend a tool or library for {concept} in {lang}? I am looking for the best one, "
    "free if possible.",
    "Why do people still use {lang} when there are newer languages? What are the pros and cons of "
    "{concept} in general?",
]
LQ_CLOSE_MORE = [
    " I have read many blog posts about {lang} and every one of them says something different.",
    " My team is starting a new project next month and we cannot agree on this.",
    " I know this may be a matter of taste, but I would like to hear what experienced people think.",
    " Links to tutorials, videos or courses are welcome too.",
]
FILLERS = ["System.out.println(x);", "console.log(data)", "print(result)", "return null;", "}}}", "i++;"]


@dataclass(frozen=True)
class Row:
    text: str
    rating: str


HQ_DETAILS = [
    "",
    " I am on version {major}.{minor} on Linux.",
    " The same happens on Windows and macOS.",
    " Tested with version {major}.{minor} and {major}.{next_minor}.",
]


def _fill(template: str, topic: tuple[str, str, str, str], rng: random.Random) -> str:
    lang, concept, error, code = topic
    minor = rng.randint(0, 12)
    return template.format(
        lang=lang,
        concept=concept,
        error=error,
        short_error=error.split(":")[0],
        code=code,
        filler=rng.choice(FILLERS),
        major=rng.randint(1, 5),
        minor=minor,
        next_minor=minor + 1,
    )


def make_rows(rows_per_label: int, seed: int) -> list[Row]:
    """Balanced rows, shuffled with ``seed``; the text is the title, then the body."""
    rng = random.Random(seed)
    templates = {
        "HQ": (HQ_TITLES, HQ_BODIES),
        "LQ_EDIT": (LQ_EDIT_TITLES, LQ_EDIT_BODIES),
        "LQ_CLOSE": (LQ_CLOSE_TITLES, LQ_CLOSE_BODIES),
    }
    rows, seen = [], set()
    for label, (titles, bodies) in templates.items():
        made = 0
        while made < rows_per_label:
            topic = rng.choice(TOPICS)  # one topic per question: the title and body agree
            text = f"{_fill(rng.choice(titles), topic, rng)} {_fill(rng.choice(bodies), topic, rng)}"
            if label == "HQ":
                text += _fill(rng.choice(HQ_DETAILS), topic, rng)
            if label == "LQ_CLOSE":  # 0 to 3 more sentences: as long as the other classes' questions
                for extra in rng.sample(LQ_CLOSE_MORE, rng.randint(0, 3)):
                    text += _fill(extra, topic, rng)
            if label == "LQ_EDIT" and rng.random() < 0.5:
                text = text.lower()
            if text in seen:  # duplicates would leak between the splits
                continue
            seen.add(text)
            rows.append(Row(text=text, rating=label))
            made += 1
    rng.shuffle(rows)
    return rows


def write_csv(rows: list[Row], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "rating"])
        writer.writerows([row.text, row.rating] for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-label", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.rows_per_label < 1:
        parser.error(f"--rows-per-label must be >= 1, got {args.rows_per_label}")
    rows = make_rows(args.rows_per_label, args.seed)
    write_csv(rows, args.out)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
