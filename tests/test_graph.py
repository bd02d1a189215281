"""Building the graph: dependencies by parameter name and every graph error."""

from __future__ import annotations

import inspect
import typing

import pytest

from assetry import AssetGraphError, asset, materialize
from assetry.assets.graph import AssetGraph


def test_decorator_with_and_without_arguments_keeps_function_callable():
    """@asset and @asset(...) both work and the function stays callable."""

    @asset
    def a() -> list:
        return [1]

    @asset(name="bee", description="b")
    def b(a: list) -> list:
        return a + [2]

    assert a() == [1]
    assert b([0]) == [0, 2]
    assert b.name == "bee"
    graph = AssetGraph.build([a, b])
    assert graph.upstream["bee"] == ("a",)
    assert graph.order == ("a", "bee")


def test_config_parameters_and_deps():
    """A defaulted parameter naming no asset is config; deps= adds value-less edges."""

    @asset
    def a() -> list:
        return [1]

    @asset(deps=[a])
    def b(limit: int = 3) -> list:
        return []

    graph = AssetGraph.build([a, b])
    assert graph.config["b"] == {"limit": 3}
    assert graph.upstream["b"] == ("a",)
    assert graph.inputs["b"] == ()


def test_non_function_is_rejected():
    """Decorating something that is not a function is an AssetGraphError."""
    with pytest.raises(AssetGraphError, match="decorates functions, but got type"):

        @asset
        class NotAFunction:
            pass


def test_unknown_option_is_rejected():
    """An unknown @asset option names itself and lists the valid ones."""
    with pytest.raises(AssetGraphError, match="unknown option.*'retry'"):

        @asset(retry=2)
        def a() -> list:
            return []


OPTIONS = [
    "name", "io", "deps", "schema", "code_version", "cache", "on_finish", "on_failure",
    "checks", "retries", "description", "tags", "partitions", "versions",
]


def test_every_option_is_an_explicit_keyword():
    """help(asset) shows every option by name; the bare and the called form are two overloads."""
    params = inspect.signature(asset).parameters
    assert [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY] == OPTIONS
    bare, called = typing.get_overloads(asset)
    assert list(inspect.signature(bare).parameters) == ["fn"]
    assert list(inspect.signature(called).parameters) == OPTIONS


def test_unknown_options_are_all_named_with_the_valid_ones():
    """Every unknown option is named, and the message lists the options in order."""
    with pytest.raises(AssetGraphError) as info:
        asset(retry=2, nme="x")  # type: ignore[call-overload]
    assert str(info.value) == (
        "@asset got unknown option(s) 'nme', 'retry'; the options are "
        + ", ".join(sorted(OPTIONS))
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, r"asset 'a' has retries=-1; give a whole number >= 0"),
        ({"retries": 1.5}, r"asset 'a' has retries=1.5; give a whole number >= 0"),
        ({"partitions": "daily"}, r"asset 'a' has partitions='daily'; give DailyPartitions"),
        ({"io": "feather"}, r"asset 'a' has io='feather', which is neither an IO manager nor one"),
        ({"deps": [1]}, r"asset 'a' has deps entry 1; give assets or asset names"),
        ({"checks": [1]}, r"asset 'a': checks= entry 1 is neither a check nor a function"),
        ({"name": "a b"}, r"asset name 'a b' \(at .*\) is not a valid name"),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, dict) else "",
)
def test_invalid_option_values_name_the_asset_and_the_value(options, message):
    """A bad option value is an AssetGraphError naming the asset and the value."""
    with pytest.raises(AssetGraphError, match=message):

        @asset(**options)
        def a() -> list:
            return []


def test_defaults_of_the_options():
    """Options left out take their documented defaults; None for retries or tags is the default."""

    @asset(retries=None, tags=None, deps=None)  # type: ignore[arg-type]
    def a() -> list:
        return []

    spec = a.spec
    assert (spec.name, spec.io, spec.deps, spec.schema, spec.code_version, spec.cache) == (
        "a", None, (), None, None, True)
    assert (spec.on_finish, spec.on_failure, spec.checks, spec.retries) == (None, None, (), 0)
    assert (spec.description, spec.tags, spec.partitions) == (None, {}, None)


def test_unknown_parameter_suggests_close_names():
    """A parameter naming no asset suggests the closest asset names."""

    @asset
    def flights() -> list:
        return []

    @asset
    def delays(flightz: list) -> list:
        return flightz

    with pytest.raises(
        AssetGraphError,
        match=r"asset 'delays' has parameter 'flightz', which names no asset; did you mean 'flights'\?",
    ):
        AssetGraph.build([flights, delays])


def test_unknown_deps_entry():
    """deps= naming no asset is an error."""

    @asset(deps=["nowhere"])
    def a() -> list:
        return []

    with pytest.raises(AssetGraphError, match="deps entry 'nowhere', which names no asset"):
        AssetGraph.build([a])


def test_cycle_names_members_in_order():
    """A cycle is reported with its members in order."""

    @asset
    def a(c: list) -> list:
        return c

    @asset
    def b(a: list) -> list:
        return a

    @asset
    def c(b: list) -> list:
        return b

    with pytest.raises(AssetGraphError, match=r"cycle in asset graph: 'a' -> 'b' -> 'c' -> 'a'"):
        AssetGraph.build([a, b, c])


def test_duplicate_name_names_both_places():
    """Two different assets with one name are reported with both locations."""

    @asset(name="orders")
    def first() -> list:
        return []

    @asset(name="orders")
    def second() -> list:
        return []

    with pytest.raises(AssetGraphError, match=r"asset 'orders' is defined twice: .*test_graph.py:\d+ and .*test_graph.py:\d+"):
        AssetGraph.build([first, second])


def test_every_problem_is_reported_at_once():
    """Graph validation collects every problem and raises once."""

    @asset
    def x(nope: int) -> list:
        return []

    @asset(deps=["missing"])
    def y() -> list:
        return []

    with pytest.raises(AssetGraphError) as info:
        AssetGraph.build([x, y])
    assert len(str(info.value).splitlines()) == 2


@pytest.mark.parametrize("bad", ["a/b", "..", "a b", "1st", "class"], ids=["slash", "dotdot", "space", "digit", "keyword"])
def test_bad_names_are_rejected(bad):
    """Names that are not identifiers (path separators, '..') are rejected."""
    with pytest.raises(AssetGraphError, match="is not a valid name"):

        @asset(name=bad)
        def a() -> list:
            return []


def test_bad_selection_suggests():
    """A selection naming no asset is an error with a suggestion."""

    @asset
    def flights() -> list:
        return []

    with pytest.raises(AssetGraphError, match="did you mean 'flights'"):
        materialize([flights], select="flight", root="unused-never-created")


def test_modules_and_nested_lists_are_collected(files):
    """materialize() takes modules, assets and nested lists; imported assets count once."""
    files.write("up.py", """
        from assetry import asset

        @asset
        def base() -> list:
            return [1]
    """)
    down = files.module("down.py", """
        from assetry import asset
        from up import base

        @asset
        def top(base: list) -> list:
            return base * 2
    """)
    up = __import__("up")
    graph = AssetGraph.build([down, [up]])
    assert graph.order == ("base", "top")


def _shapes():
    def none(): ...
    def plain(a, b): ...
    def defaults(a, b=2, c=None): ...
    def positional_only(a, /, b, c=3): ...
    def keyword_only(a, *, b, c=3, d): ...
    def everything(a, b=1, /, c=2, *, d, e=[5]): ...  # noqa: B006 - a default object, kept as is
    return [none, plain, defaults, positional_only, keyword_only, everything, lambda x, y=1: x]


@pytest.mark.parametrize("fn", _shapes(), ids=lambda f: f.__name__)
def test_parameters_read_from_code_are_the_signatures(fn) -> None:
    """The parameters a spec reads from a function's code object are inspect.signature's:
    names, order, and each default (the very object)."""
    import inspect

    from assetry.assets.decorator import AssetSpec

    spec = AssetSpec.from_function(fn, name="shape")
    expected = [(p.name, p.default is not p.empty, None if p.default is p.empty else p.default)
                for p in inspect.signature(fn).parameters.values()]
    assert [(p.name, p.has_default, p.default) for p in spec.params] == expected
    for got, want in zip(spec.params, inspect.signature(fn).parameters.values(), strict=True):
        assert want.default is want.empty or got.default is want.default


def test_a_signature_set_or_wrapped_is_the_one_a_spec_reads() -> None:
    """A function given a ``__signature__`` or wrapping another (functools.wraps) is read by
    inspect.signature, as it always was: the parameters it shows, not its code's."""
    import functools
    import inspect

    from assetry.assets.decorator import AssetSpec

    def inner(raw, n=3): ...

    @functools.wraps(inner)
    def wrapper(*args, **kwargs): ...

    def shown(a): ...
    shown.__signature__ = inspect.Signature([inspect.Parameter("b", inspect.Parameter.KEYWORD_ONLY)])
    assert [p.name for p in AssetSpec.from_function(wrapper).params] == ["raw", "n"]
    assert [p.name for p in AssetSpec.from_function(shown).params] == ["b"]
