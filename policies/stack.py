"""The whole input a resource belongs to, for the pack's rules that follow a reference to another block.

Checkov's Python checks see one resource (and, in ``terraform_json``, no graph). A key reached through
``data.aws_kms_alias``, the provider whose ``default_tags`` a resource gets, the bucket an ARN in a policy
names: each needs the rest of the input, which :func:`locate` loads once per file and process:

* ``terraform_json``: every ``*.tf.json`` of the scanned file's directory (a Terraform module is a
  directory), references spelled ``${type.name.attr}`` as Terraform writes them;
* ``terraform_plan`` (``terraform show -json``): per module, each block's configuration expressions
  (``configuration``) overlaid with the values the plan knows (``planned_values``, and ``prior_state`` for
  the data sources Terraform read during plan); a value unknown until apply keeps its expression, spelled
  as a ``${...}`` reference like the JSON.

Every address in a :class:`Stack` is relative to its module (``aws_kms_key.k``, ``data.aws_kms_alias.s3``).
Nothing here decides a check; it only answers "what does this reference point at" and, in a plan, "did the
configuration write this attribute, and from which references" (:meth:`Stack.declares`, :meth:`Stack.references`):
a plan made against existing state knows every attribute of an existing resource, so its values alone no longer
tell what the configuration wrote from what the provider read back (Terraform docs, "JSON Output Format":
``planned_values`` holds values, ``configuration`` the expressions with their ``references``).
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# A Terraform reference as the pack meets it: ``data.aws_kms_alias.s3.target_key_arn``, ``aws_kms_key.k[0].arn``,
# ``var.name``, ``local.name``, ``module.m.output`` (no function calls, operators or spaces).
_REFERENCE = re.compile(
    r"^(?P<block>data\.[A-Za-z][\w-]*\.[A-Za-z_][\w-]*|(?:var|local|module)\.[A-Za-z_][\w-]*|[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)"
    r"(?:\[[^\]]*\])?(?:\.(?P<attribute>[A-Za-z_][\w-]*))?(?P<rest>(?:\.[\w-]+|\[[^\]]*\])*)$"
)
# A string that is only a reference, as Checkov puts it into a plan resource for a value unknown until apply.
_BARE_REFERENCE = re.compile(r"^(?:(?:data\.)?aws_[a-z0-9_]+|var|local|module)\.[\w\-.\[\]\"*]+$")
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_INDEX = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class Reference:
    """An interpolation: ``block`` (a module-relative address, ``var.x``, ``local.x``; ``""`` for an expression
    the pack does not follow, such as a function call), the ``attribute`` read from it, and its ``text``."""

    block: str
    attribute: str | None
    text: str


def parse_reference(expression: str) -> Reference:
    """The reference an interpolation (without ``${}``) consists of; ``block == ""`` for anything else."""
    match = _REFERENCE.match(expression.strip())
    if not match:
        return Reference("", None, expression.strip())
    return Reference(match["block"], match["attribute"], expression.strip())


def template(value: str) -> list[str | Reference]:
    """A string as its literal parts and its interpolations.

    ``"${aws_s3_bucket.b.arn}/*"`` -> ``[Reference("aws_s3_bucket.b", "arn", …), "/*"]``; a bare reference such
    as a plan's ``aws_kms_key.k.arn`` (Checkov's spelling of a value unknown until apply) is one reference.
    """
    if "${" not in value and _BARE_REFERENCE.match(value.strip()) and not value.startswith("arn:"):
        return [parse_reference(value)]
    parts: list[str | Reference] = []
    position = 0
    for match in _INTERPOLATION.finditer(value):
        if match.start() > position:
            parts.append(value[position : match.start()])
        parts.append(parse_reference(match.group(1)))
        position = match.end()
    if position < len(value):
        parts.append(value[position:])
    return parts


@dataclass(frozen=True)
class Stack:
    """One module of the input: its blocks, the provider configurations, variables and locals it can see.

    ``blocks``: module-relative address -> attributes (``__provider__`` names the provider configuration key);
    ``providers``: provider configuration key (``aws``, ``aws.other``; in a plan also ``module.m:aws``) ->
    attributes; ``known_keys``: key ARN, key id or alias -> ``AWS``/``CUSTOMER``, from the KMS data sources a
    plan read (their values are the provider's answer, not configuration); ``configuration``: in a plan,
    module-relative address -> the block's configuration ``expressions`` as ``terraform show -json`` writes them
    (``{"constant_value": ...}`` or ``{"references": [...]}`` per argument, nested blocks as lists of such
    objects); None for ``terraform_json``, whose ``blocks`` are the configuration itself.
    """

    blocks: Mapping[str, Mapping[str, Any]]
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    locals: Mapping[str, Any] = field(default_factory=dict)
    known_keys: Mapping[str, str] = field(default_factory=dict)
    configuration: Mapping[str, Mapping[str, Any]] | None = None

    @property
    def is_plan(self) -> bool:
        """True for a module of a plan (its values may come from state), False for ``terraform_json``."""
        return self.configuration is not None

    def block(self, address: str) -> Mapping[str, Any] | None:
        """The attributes of the block at ``address`` (index suffixes ignored), or None."""
        found = self.blocks.get(_INDEX.sub("", address))
        return found if isinstance(found, Mapping) else None

    def value(self, reference: Reference) -> tuple[bool, Any]:
        """``(True, value)`` for a variable with a value or a local; ``(False, None)`` when not known here."""
        kind, _, name = reference.block.partition(".")
        source = self.variables if kind == "var" else self.locals if kind == "local" else None
        if source is None or name not in source:
            return False, None
        return True, source[name]

    def provider_of(self, address: str) -> Mapping[str, Any] | None:
        """The configuration of the provider the block at ``address`` uses (its ``provider`` alias, else default)."""
        block = self.block(address)
        key = str(block.get("__provider__")) if block else None
        return self.providers.get(key) if key else None

    def declares(self, address: str, attribute: str) -> bool:
        """Whether the configuration of the block at ``address`` sets ``attribute`` (a top-level argument or block).

        In a plan, an attribute the configuration does not set holds what the provider computed or read back
        from the real object (``arn``, or an Optional+Computed ``policy`` another resource manages).
        """
        if self.configuration is None:
            block = self.block(address)
            return block is not None and block.get(attribute) is not None
        expressions = self.configuration.get(_INDEX.sub("", address))
        return isinstance(expressions, Mapping) and attribute in expressions

    def references(self, address: str, attribute: str | None = None) -> tuple[str, ...]:
        """Every reference the configuration of the block at ``address`` (only of its ``attribute``, if given)
        makes, as Terraform spells it (``aws_iam_role.r.arn``, ``aws_iam_role.r``,
        ``data.aws_caller_identity.c.account_id``), in order."""
        if self.configuration is None:
            node: Any = self.block(address)
            node = node.get(attribute) if attribute is not None and node is not None else node
            found = [p.text for text in _texts(node) for p in template(text) if isinstance(p, Reference)]
        else:
            node = self.configuration.get(_INDEX.sub("", address))
            node = node.get(attribute) if attribute is not None and isinstance(node, Mapping) else node
            found = list(_plan_references(node))
        return tuple(dict.fromkeys(found))


class _Check(Protocol):
    entity_path: str


def locate(check: _Check, conf: Mapping[str, Any]) -> tuple[Stack, str] | None:
    """The :class:`Stack` the resource Checkov is scanning belongs to, and its module-relative address.

    A check knows the scanned file only relative to Checkov's root (``entity_path`` =
    ``/<relative file>:<type>:<name>``): for ``--directory`` that root, for ``--file`` the working directory
    (``terraform_json``) or the file's own directory (``terraform_plan``). The candidates are built from Checkov's
    command line (and the plan path Checkov puts into root-module plan resources as ``__file__``); one is accepted
    only if it declares the resource. None when the input cannot be found: rules that need it then prove nothing.
    """
    scanned, rtype, name = check.entity_path.rsplit(":", 2)
    address = _unwrap(conf.get("__address__"))  # set on every plan resource, never in terraform_json
    own = _unwrap(conf.get("__file__"))
    relative_file = scanned.lstrip("/")
    candidates = _candidates(relative_file, tuple(sys.argv[1:]), str(Path.cwd()))
    for candidate in ([Path(own)] if isinstance(own, str) else []) + candidates:
        if not candidate.is_file() or not candidate.name.endswith(".json"):
            continue
        if isinstance(address, str):
            module, relative = split_address(address)
            try:
                stack = _plan_stacks(*_signature(candidate)).get(module)
            except (OSError, ValueError, AttributeError):
                continue  # not a plan
        else:
            relative = f"{rtype}.{name}"
            stack = _json_stack(*_directory_signature(candidate.parent))
        if stack is not None and stack.block(relative) is not None:
            return stack, relative
    return None


def split_address(address: str) -> tuple[str, str]:
    """``module.a.module.b.aws_x.y`` -> (``module.a.module.b``, ``aws_x.y``); indices dropped."""
    parts = _INDEX.sub("", address).split(".")
    modules: list[str] = []
    while len(parts) > 2 and parts[0] == "module":
        modules += parts[:2]
        parts = parts[2:]
    return ".".join(modules), ".".join(parts)


def _unwrap(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _texts(node: Any) -> Iterator[str]:
    """Every string below ``node`` (a JSON-syntax configuration block) that holds an interpolation."""
    if isinstance(node, str):
        if "${" in node:
            yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key != "__provider__":
                yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def _plan_references(node: Any) -> Iterator[str]:
    """Every entry of the ``references`` lists below a plan's configuration ``expressions``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "references" and isinstance(value, list):
                yield from (str(r) for r in value)
            else:
                yield from _plan_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _plan_references(value)


def _checkov_arguments(argv: tuple[str, ...], *flags: str) -> list[str]:
    """The values Checkov's command line gives ``flags`` (each may take several, up to the next option)."""
    values: list[str] = []
    taking = False
    for arg in argv:
        option, equals, value = arg.partition("=")
        if arg.startswith("-"):
            taking = arg in flags
            if equals and option in flags:
                values.append(value)
                taking = False
        elif taking:
            values.append(arg)
    return values


@functools.lru_cache(maxsize=256)
def _candidates(relative: str, argv: tuple[str, ...], cwd: str) -> list[Path]:
    """Files Checkov may have scanned as ``relative``: a ``--file`` ending in it, below a ``--directory``, the cwd."""
    named = [Path(f) for f in _checkov_arguments(argv, "-f", "--file")]
    files = [f for f in named if f"/{f.as_posix()}".endswith(f"/{relative}")]
    roots = [Path(d) for d in _checkov_arguments(argv, "-d", "--directory")]
    return [*files, *(root / relative for root in roots), Path(cwd) / relative]


def _signature(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _directory_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(_signature(p) for p in sorted(directory.glob("*.tf.json")))


def _objects(node: Any) -> Iterator[tuple[str, Any]]:
    """Name/value pairs of a JSON-syntax block map (an object, or a list of objects as HCL JSON allows)."""
    for item in node if isinstance(node, list) else [node]:
        if isinstance(item, dict):
            yield from ((k, v) for k, v in item.items() if k != "//")


def _provider_key(name: str, config: Mapping[str, Any]) -> str:
    alias = config.get("alias")
    return f"{name}.{alias}" if isinstance(alias, str) and alias else name


@functools.lru_cache(maxsize=16)
def _json_stack(*files: tuple[str, int, int]) -> Stack:
    """The module one directory of ``*.tf.json`` files declares (``files``: path, mtime, size, for the cache)."""
    blocks: dict[str, dict[str, Any]] = {}
    providers: dict[str, Mapping[str, Any]] = {}
    variables: dict[str, Any] = {}
    local_values: dict[str, Any] = {}
    for path, _, _ in files:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        for prefix, section in (("", "resource"), ("data.", "data")):
            for rtype, items in _objects(doc.get(section)):
                for name, config in _objects(items):
                    if isinstance(config, dict):
                        provider = str(config.get("provider") or rtype.split("_")[0])
                        provider = provider.removeprefix("${").removesuffix("}")
                        blocks[f"{prefix}{rtype}.{name}"] = {**config, "__provider__": provider}
        for name, configs in _objects(doc.get("provider")):
            for config in configs if isinstance(configs, list) else [configs]:
                if isinstance(config, dict):
                    providers[_provider_key(name, config)] = config
        for name, config in _objects(doc.get("variable")):
            if isinstance(config, dict) and "default" in config:
                variables[name] = config["default"]
        for name, value in _objects(doc.get("locals")):
            local_values[name] = value
    return Stack(blocks, providers, variables, local_values)


def _expression(node: Any) -> Any:
    """A plan's configuration expression as the JSON would spell it: a constant, or ``${first reference}``."""
    if isinstance(node, dict) and ("constant_value" in node or "references" in node):
        if "constant_value" in node:
            return node["constant_value"]
        references = node.get("references") or []
        return "${" + str(references[0]) + "}" if references else None
    if isinstance(node, dict):
        return {k: _expression(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expression(v) for v in node]
    return node


def _overlay(config: Any, known: Any) -> Any:
    """``known`` (plan values) over ``config`` (expressions); a value the plan does not know keeps its expression."""
    if isinstance(config, dict) and isinstance(known, dict):
        merged = dict(config)
        for key, value in known.items():
            merged[key] = _overlay(config.get(key), value) if value is not None else config.get(key, value)
        return merged
    if isinstance(config, list) and isinstance(known, list):
        return [_overlay(c, k) for c, k in zip(config, known, strict=False)] + known[len(config) :]
    return config if known is None else known


def _module_values(module: Mapping[str, Any], found: dict[str, Mapping[str, Any]]) -> None:
    for resource in module.get("resources") or []:
        if isinstance(resource, dict) and isinstance(resource.get("values"), dict):
            found.setdefault(_INDEX.sub("", str(resource.get("address", ""))), resource["values"])
    for child in module.get("child_modules") or []:
        if isinstance(child, dict):
            _module_values(child, found)


def _module_configs(module: Mapping[str, Any], address: str, found: dict[str, Mapping[str, Any]]) -> None:
    found[address] = module
    for name, call in (module.get("module_calls") or {}).items():
        if isinstance(call, dict) and isinstance(call.get("module"), dict):
            _module_configs(call["module"], f"{address}.module.{name}".lstrip("."), found)


def _kms_answers(values: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Key ARN/id/alias -> ``AWS``/``CUSTOMER`` for each KMS data source the plan read (the provider's answer)."""
    known: dict[str, str] = {}
    names: tuple[str, ...]
    for address, attrs in values.items():
        _, relative = split_address(address)
        if relative.startswith("data.aws_kms_alias.") and isinstance(attrs.get("name"), str):
            manager = "AWS" if attrs["name"].startswith("alias/aws/") else "CUSTOMER"
            names = ("name", "arn", "target_key_arn", "target_key_id")
        elif relative.startswith("data.aws_kms_key.") and attrs.get("key_manager") in ("AWS", "CUSTOMER"):
            manager, names = str(attrs["key_manager"]), ("arn", "id", "key_id")
        else:
            continue
        for name in names:
            if isinstance(attrs.get(name), str) and attrs[name]:
                known[attrs[name]] = manager
    return known


@functools.lru_cache(maxsize=4)
def _plan_stacks(path: str, mtime_ns: int, size: int) -> dict[str, Stack]:
    """Module address (``""`` for the root) -> :class:`Stack` of a ``terraform show -json`` plan."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    values: dict[str, Mapping[str, Any]] = {}
    _module_values(doc.get("planned_values", {}).get("root_module", {}), values)
    _module_values(doc.get("prior_state", {}).get("values", {}).get("root_module", {}), values)
    configuration = doc.get("configuration", {})
    provider_config = configuration.get("provider_config", {})
    providers = {key: _expression(p.get("expressions", {})) for key, p in provider_config.items()}
    variables = {k: v.get("value") for k, v in (doc.get("variables") or {}).items() if isinstance(v, dict)}
    known = _kms_answers(values)
    modules: dict[str, Mapping[str, Any]] = {}
    _module_configs(configuration.get("root_module", {}), "", modules)
    stacks = {}
    for module_address, module in modules.items():
        blocks: dict[str, Mapping[str, Any]] = {}
        expressions: dict[str, Mapping[str, Any]] = {}
        for resource in module.get("resources") or []:
            relative = str(resource.get("address", ""))
            full = f"{module_address}.{relative}" if module_address else relative
            expressions[relative] = resource.get("expressions") or {}
            attrs = _overlay(_expression(expressions[relative]), values.get(full, {}))
            blocks[relative] = {**attrs, "__provider__": resource.get("provider_config_key", "aws")}
        module_variables = variables if not module_address else {}
        stacks[module_address] = Stack(blocks, providers, module_variables, {}, known, expressions)
    return stacks
