"""Infers JSON schemas from captured answers: the shape every sample shares.
Objects list the keys seen (required: the keys every sample has); arrays the shape of their
items; scalars the JSON types seen, and null besides: samples cannot show that a value is
never null (the first version said so after three non-null samples, and the conformance test
found a field that was null in the fourth). Below the top level, objects and lists may be
null as well."""
import json, sys, collections

def jtype(v):
    if v is None: return "null"
    if isinstance(v, bool): return "boolean"
    if isinstance(v, int): return "integer"
    if isinstance(v, float): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "array"
    return "object"

def infer(values):
    values = list(values)
    types = collections.OrderedDict()
    for v in values:
        types.setdefault(jtype(v), []).append(v)
    if "integer" in types and "number" in types:
        types["number"] += types.pop("integer")
    schemas = []
    scalar = []
    for t, vs in types.items():
        if t == "object":
            keys = collections.OrderedDict()
            for o in vs:
                for k in o: keys.setdefault(k, []).append(o[k])
            # Below the top, an object or a list may be null too (a policy's goals are null
            # when a manager leaves them out, whatever the samples showed).
            props = {k: widen(infer(kv)) for k, kv in keys.items()}
            req = [k for k in keys if all(k in o for o in vs)]
            s = {"type": "object", "properties": props}
            if req: s["required"] = req
            schemas.append(s)
        elif t == "array":
            items = [x for a in vs for x in a]
            s = {"type": "array"}
            if items: s["items"] = infer(items)
            schemas.append(s)
        else:
            scalar.append(t)
    if scalar:
        if "null" not in scalar:
            scalar.append("null")
        schemas.append({"type": scalar})
    if not schemas: return {}
    if len(schemas) == 1: return schemas[0]
    # An object or array that is sometimes null, or several kinds: say each.
    if all("type" in s for s in schemas) and [s for s in schemas if s.get("type") == "null"] and len(schemas) == 2:
        other = [s for s in schemas if s.get("type") != "null"][0]
        return widen(other)
    return {"anyOf": schemas}

def widen(s):
    t = s.get("type")
    if t is None:
        if "anyOf" in s and {"type": "null"} not in s["anyOf"]:
            return {"anyOf": s["anyOf"] + [{"type": "null"}]}
        return s
    ts = t if isinstance(t, list) else [t]
    if "null" not in ts: ts = ts + ["null"]
    s = dict(s); s["type"] = ts
    return s

samples = json.load(open(sys.argv[1]))
by_answer = collections.defaultdict(list)
by_request = collections.defaultdict(list)
for x in samples:
    st = str(x["status"])
    if st.startswith("2") and isinstance(x.get("response"), (dict, list)) and "json" in (x.get("content_type") or ""):
        by_answer[(x["method"].lower(), x["template"], st)].append(x["response"])
    if st.startswith("2") and isinstance(x.get("request_body"), (dict, list)):
        by_request[(x["method"].lower(), x["template"])].append(x["request_body"])
out = {"answers": {}, "requests": {}}
for (m, t, st), vs in sorted(by_answer.items()):
    out["answers"][f"{m} {t} {st}"] = infer(vs)
for (m, t), vs in sorted(by_request.items()):
    s = infer(vs)
    s.pop("required", None)
    out["requests"][f"{m} {t}"] = s
json.dump(out, sys.stdout, indent=1, sort_keys=False)
