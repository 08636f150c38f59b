"""tools/tfstandin without Terraform: version selection and schema recovery rules."""

from __future__ import annotations

import pytest

from tools.tfstandin.catalog import (
    BINDINGS,
    lower_bound,
    lowest,
    newest,
    pick,
    required_providers,
    satisfies,
)
from tools.tfstandin.ts_schema import _Module

from .conftest import TF_DIR


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [
        ("6.50.0", ">= 6.14.0, < 7.0.0", True),
        ("7.46.1", ">= 6.14.0, < 7.0.0", False),
        ("2.7.1", "~> 2.4", True),
        ("3.0.0", "~> 2.4", False),
        ("2.4.9", "~> 2.4.1", True),
        ("2.5.0", "~> 2.4.1", False),
        ("6.50.0", "6.50.0", True),
        ("6.50.0", "!= 6.50.0", False),
    ],
)
def test_version_constraints(version: str, constraint: str, ok: bool) -> None:
    assert satisfies(version, constraint) is ok


def test_the_configuration_picks_a_schema_within_its_constraints() -> None:
    reqs = required_providers(TF_DIR)
    assert set(reqs) == {"google", "google-beta", "random", "archive", "time"}
    for source, constraint in reqs.values():
        binding = pick(source, constraint)
        assert satisfies(binding.provider_version, constraint or ""), binding
        assert newest(source) == BINDINGS[source][-1]


def test_the_lowest_binding_and_a_constraint_s_lower_bound() -> None:
    assert lowest("hashicorp/google", ">= 6.14.0, < 9.0.0").provider_version == "6.50.0"
    assert lowest("hashicorp/time", ">= 0.13.1, < 1.0.0").provider_version == "0.13.1"
    assert lower_bound(">= 6.50.0, < 7.0.0") == "6.50.0"
    assert lower_bound("~> 2.4") == "2.4.0"
    assert lower_bound("< 7.0.0") is None


def test_a_root_s_providers_include_its_local_modules() -> None:
    """terraform/examples/deploy calls ../..: the module's constraints join the root's."""
    reqs = required_providers(TF_DIR / "examples" / "deploy")
    assert reqs["time"] == ("hashicorp/time", ">= 0.13.1, < 1.0.0")
    assert set(reqs) == {"google", "google-beta", "random", "archive", "time"}


def test_no_binding_outside_the_constraint() -> None:
    with pytest.raises(LookupError):
        pick("hashicorp/google", ">= 99.0.0")


# A trimmed copy of what the generated TypeScript of a binding looks like.
_TS = """
export function exampleThingRuleToHclTerraform(struct?: ExampleThingRule): any {
  const attrs = {
    mode: {
      value: cdktf.stringToHclTerraform(struct!.mode),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };
}

export class ExampleThingRuleOutputReference extends cdktf.ComplexObject {
  // mode - computed: false, optional: false, required: true
  private _mode?: string;
  public get mode() {
    return this.getStringAttribute('mode');
  }
  // uri - computed: true, optional: false, required: false
  public get uri() {
    return this.getStringAttribute('uri');
  }
}

export class ExampleThing extends cdktf.TerraformResource {
  public static readonly tfResourceType = "example_thing";
  // name - computed: false, optional: false, required: true
  private _name?: string;
  public get name() {
    return this.getStringAttribute('name');
  }
  // tags - computed: false, optional: true, required: false
  private _tags?: string[];
  public get tags() {
    return cdktf.Fn.tolist(this.getListAttribute('tags'));
  }
  // id - computed: true, optional: true, required: false
  public get id() {
    return this.getStringAttribute('id');
  }
  // rule - computed: false, optional: true, required: false
  private _rule = new ExampleThingRuleList(this, "rule", true);
  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      tags: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._tags),
        isBlock: false,
        type: "set",
        storageClassType: "stringList",
      },
      rule: {
        value: cdktf.listMapperHcl(exampleThingRuleToHclTerraform, true)(this._rule.internalValue),
        isBlock: true,
        type: "set",
        storageClassType: "ExampleThingRuleList",
      },
    };
  }
}
"""


def test_schema_recovery_from_generated_typescript() -> None:
    kind, name, block = _Module(_TS).top_level()  # type: ignore[misc]
    assert (kind, name) == ("resource", "example_thing")
    attrs = block["attributes"]
    assert attrs["name"] == {"type": "string", "required": True}
    assert attrs["tags"] == {"type": ["set", "string"], "optional": True}
    assert attrs["id"] == {"type": "string", "computed": True, "optional": True}
    rule = block["block_types"]["rule"]
    assert rule["nesting_mode"] == "set"
    assert rule["block"]["attributes"]["mode"] == {"type": "string", "required": True}
    assert rule["block"]["attributes"]["uri"] == {"type": "string", "computed": True}
