"""JSON Schema (as OpenAI clients write it) → the OpenAPI 3.0 subset Gemini's ``Schema`` object accepts.

Gemini rejects any key its ``Schema`` message does not define ("Unknown name ... Cannot find field"), so
the translation keeps only the documented fields and rewrites the common JSON Schema idioms Gemini lacks:
``$ref`` into ``$defs`` is inlined, ``type: [T, "null"]`` and ``anyOf`` with a null branch become
``nullable``, ``oneOf`` becomes ``anyOf``, ``const`` a one-value ``enum``. Keys that only describe or
constrain loosely (``additionalProperties``, ``$schema``, ``strict``, ``default``, ``examples``) are dropped:
the model never saw them as instructions anyway. Recursive ``$ref`` cannot be expressed and is a 400.
"""

from __future__ import annotations

from typing import Any

from switchyard.errors import InvalidRequestError

# Gemini's Schema fields (ai.google.dev/api/caching#Schema) that carry over unchanged.
_KEPT = frozenset(
    {
        "format",
        "title",
        "description",
        "nullable",
        "required",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "minProperties",
        "maxProperties",
        "propertyOrdering",
    }
)
# Gemini answers 400 for other formats ("only 'enum' and 'date-time' are supported for STRING type").
_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
_NULL = "NULL"

Schema = dict[str, Any]


def gemini_schema(schema: Schema, param: str) -> Schema:
    """The Gemini form of a JSON schema; ``param`` names the request field in errors."""
    return _Converter(schema, param).convert(schema, ())


class _Converter:
    __slots__ = ("_root", "_param")

    def __init__(self, root: Schema, param: str) -> None:
        self._root = root
        self._param = param

    def fail(self, message: str) -> InvalidRequestError:
        return InvalidRequestError(f"JSON schema not supported by this model: {message}", param=self._param)

    def convert(self, node: object, refs: tuple[str, ...]) -> Schema:
        if not isinstance(node, dict):
            raise self.fail("every schema must be an object")
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or ref in refs:
                raise self.fail(f"recursive or invalid $ref {ref!r}")
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return self.convert({**self._resolve(ref), **rest}, (*refs, ref))
        if "allOf" in node:
            node = self._merge_all_of(node)
        out: Schema = {}
        for key, value in node.items():
            if key == "type":
                self._type(value, out)
            elif key == "properties":
                properties = {name: self.convert(sub, refs) for name, sub in _mapping(value).items()}
                if properties:  # Gemini: "properties: should be non-empty for OBJECT type"
                    out["properties"] = properties
            elif key == "items":
                if not isinstance(value, dict):
                    raise self.fail("tuple-style items lists")
                out["items"] = self.convert(value, refs)
            elif key in ("anyOf", "oneOf"):
                self._any_of(value, refs, out)
            elif key == "enum":
                values = value if isinstance(value, list) else []
                if None in values:
                    out["nullable"] = True
                out["enum"] = [v if isinstance(v, str) else _text(v) for v in values if v is not None]
            elif key == "const":
                out["enum"] = [value if isinstance(value, str) else _text(value)]
            elif key in _KEPT:
                out[key] = value
        if "enum" in out and "type" not in out:
            out["type"] = "STRING"
        fmt = out.get("format")
        if fmt is not None and fmt not in _FORMATS.get(str(out.get("type")), ()):
            del out["format"]
        if "required" in out and "properties" not in out:
            del out["required"]
        return out

    def _type(self, value: object, out: Schema) -> None:
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        kinds = [str(name).upper() for name in names]
        if _NULL in kinds and len(kinds) > 1:
            out["nullable"] = True
            kinds = [kind for kind in kinds if kind != _NULL]
        if len(kinds) == 1:
            out["type"] = kinds[0]
        elif kinds:
            out["anyOf"] = [{"type": kind} for kind in kinds]

    def _any_of(self, value: object, refs: tuple[str, ...], out: Schema) -> None:
        branches = [self.convert(branch, refs) for branch in (value if isinstance(value, list) else [])]
        kept = [branch for branch in branches if branch.get("type") != _NULL]
        if len(kept) < len(branches):
            out["nullable"] = True
        if len(kept) == 1:
            out.update({k: v for k, v in kept[0].items() if k not in out})
        elif kept:
            out["anyOf"] = kept

    def _merge_all_of(self, node: Schema) -> Schema:
        merged: Schema = {k: v for k, v in node.items() if k != "allOf"}
        for member in node["allOf"] if isinstance(node["allOf"], list) else []:
            if not isinstance(member, dict):
                raise self.fail("allOf members must be objects")
            if "$ref" in member:
                member = {**self._resolve(member["$ref"]), **{k: v for k, v in member.items() if k != "$ref"}}
            for key, value in member.items():
                if key == "properties":
                    merged["properties"] = {**_mapping(merged.get("properties")), **_mapping(value)}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def _resolve(self, ref: object) -> Schema:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise self.fail(f"only local $ref values are supported, not {ref!r}")
        node: object = self._root
        for step in ref[2:].split("/"):
            node = node.get(step.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise self.fail(f"$ref {ref!r} points nowhere")
        return node


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    # Gemini enums are strings; JSON numbers and booleans keep their JSON spelling.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
