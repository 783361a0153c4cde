"""A strict reader of Prometheus text exposition format 0.0.4, for the
ternd metrics tests: it refuses what Prometheus's own parser refuses (bad
names, escapes, values; a second HELP or TYPE for a family; HELP or TYPE
after the family's samples; a family's lines split by another family's),
and returns the families. (python3-prometheus-client's parser is more
lenient than Prometheus on split families, and is not in the test host.)"""
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Family:
    def __init__(self, name):
        self.name, self.type, self.help, self.samples = name, None, None, []

    def __repr__(self):
        return f"Family({self.name}, {self.type}, {len(self.samples)} samples)"


def _unescape(text, quote, where):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 == len(text):
                raise ValueError(f"{where}: a backslash at the end")
            nxt = text[i + 1]
            if nxt == "n":
                out.append("\n")
            elif nxt == "\\" or (quote and nxt == '"'):
                out.append(nxt)
            else:
                raise ValueError(f"{where}: bad escape \\{nxt}")
            i += 2
            continue
        if quote and c == '"':
            raise ValueError(f"{where}: an unescaped quote")
        out.append(c)
        i += 1
    return "".join(out)


def _labels(text, where):
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r"\s*(" + LABEL + r')\s*=\s*"', text[i:])
        if not m:
            raise ValueError(f"{where}: bad label at {text[i:]!r}")
        name = m.group(1)
        i += m.end()
        j = i
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        if j >= len(text):
            raise ValueError(f"{where}: a label value without its end")
        if name in labels:
            raise ValueError(f"{where}: label {name} twice")
        labels[name] = _unescape(text[i:j], True, where)
        i = j + 1
        m = re.match(r"\s*(,|$)", text[i:])
        if not m:
            raise ValueError(f"{where}: labels not separated by ','")
        i += m.end()
    return labels


def _family_of(families, name):
    if name in families:
        return families[name]
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in families and \
                families[base].type in ("histogram", "summary") and \
                not (suffix == "_bucket" and families[base].type == "summary"):
            return families[base]
    return None


def parse(text):
    """{family name: Family}; raises ValueError naming the line."""
    if text and not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    families, order, done = {}, [], set()
    current = None

    def enter(fam):
        nonlocal current
        if current is not fam:
            if fam.name in done:
                raise ValueError(f"{where}: family {fam.name} split by another family")
            if current is not None:
                done.add(current.name)
            current = fam

    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {number} ({line[:80]!r})"
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"^#\s+(HELP|TYPE)\s+(" + NAME + r")(?:\s(.*))?$", line)
            if not m:
                continue  # another comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            fam = families.get(name)
            if fam is None:
                fam = families[name] = Family(name)
                order.append(name)
            enter(fam)
            if fam.samples:
                raise ValueError(f"{where}: {kind} after the family's samples")
            if kind == "HELP":
                if fam.help is not None:
                    raise ValueError(f"{where}: a second HELP")
                fam.help = _unescape(rest, False, where)
            else:
                if fam.type is not None:
                    raise ValueError(f"{where}: a second TYPE")
                if rest.strip() not in TYPES:
                    raise ValueError(f"{where}: bad type {rest!r}")
                fam.type = rest.strip()
            continue
        m = re.match(r"^(" + NAME + r")(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$", line)
        if not m:
            raise ValueError(f"{where}: not a sample")
        name, labels, value = m.group(1), _labels(m.group(2) or "", where), m.group(3)
        if not VALUE.match(value):
            raise ValueError(f"{where}: bad value {value!r}")
        fam = _family_of(families, name)
        if fam is None:
            fam = families[name] = Family(name)
            order.append(name)
        enter(fam)
        fam.samples.append((name, labels, float(value)))
    for fam in families.values():
        if fam.type == "histogram":
            for s in fam.samples:
                if s[0].endswith("_bucket") and "le" not in s[1]:
                    raise ValueError(f"{fam.name}: a bucket without le")
    return families


def samples(families, name, **labels):
    """The samples named name whose labels include labels."""
    fam = _family_of(families, name)
    if fam is None:
        return []
    return [s for s in fam.samples if s[0] == name and
            all(s[1].get(k) == v for k, v in labels.items())]


def value(families, name, **labels):
    found = samples(families, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0][2]
