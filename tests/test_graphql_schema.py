"""The committed SDL is the code's schema; the names clients rely on; every description."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from definum_gql.config import Settings
from definum_gql.graphql import build_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    expected = build_schema(Settings()).as_str() + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected, (
        "schema/schema.graphql is stale: run `definum-gql export-schema > schema/schema.graphql`"
    )


def test_every_type_field_and_argument_has_a_description() -> None:
    schema = build_schema(Settings())._schema
    missing: list[str] = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "Float", "ID"):
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, v in kind.fields.items() if not v.description]
        if isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, d in kind.values.items() if not d.description]
    assert missing == []


def test_names_clients_rely_on() -> None:
    sdl = build_schema(Settings()).as_str()
    for name in ("enum UserIdField {", "  user(", "  users(", "  course(", "  courses("):
        assert name in sdl
    schema = build_schema(Settings())._schema
    enum = schema.type_map["UserIdField"]
    assert isinstance(enum, GraphQLEnumType)
    assert list(enum.values) == [
        "ID",
        "USERNAME",
        "IDNUMBER",
        "EMAIL",
        "OIDCUNIQUEID",
        "OIDCUSERNAME",
    ]
    query = schema.query_type
    assert query is not None
    user_args = query.fields["user"].args
    assert str(user_args["by"].type) == "UserIdField!"
    assert "by: UserIdField! = ID" in sdl
    assert str(user_args["value"].type) == "String!"
    # Nullable: a list the token's owner may not read is null with a FORBIDDEN error.
    assert str(query.fields["users"].type) == "UserConnection"
    assert str(query.fields["me"].type) == "User"
    assert set(query.fields["users"].args) == {"first", "after", "filter"}
    stats = schema.type_map["DefinumStats"]
    assert isinstance(stats, GraphQLObjectType)
    assert list(stats.fields) == [
        "id",
        "lastname",
        "firstname",
        "courses",
        "finishableCourses",
        "finishedCourses",
        "finishedCoursesRatio",
        "badges",
        "numBadges",
        "lastLogin",
        "lastLoginStr",
        "timeSpentInMonth",
        "timeSpentInMonthStr",
        "loginsInMonth",
    ]
    badge = schema.type_map["DefinumBadge"]
    assert isinstance(badge, GraphQLObjectType)
    assert list(badge.fields) == [
        "id",
        "name",
        "issuerName",
        "issuerUrl",
        "issuerContact",
        "dateIssued",
        "dateIssuedStr",
    ]
    user = schema.type_map["User"]
    assert isinstance(user, GraphQLObjectType)
    for field in [
        "id",
        "username",
        "idnumber",
        "email",
        "firstname",
        "lastname",
        "fullname",
        "suspended",
        "lastLogin",
        "currentLogin",
        "lastAccess",
        "enrolments",
        "badges",
        "activity",
        "activityHistory",
        "timeSpent",
        "definumStats",
    ]:
        assert field in user.fields, field
    assert set(user.fields["activityHistory"].args) == {"from", "to"}
    assert set(user.fields["timeSpent"].args) == {"month", "algorithm"}
    algorithm = schema.type_map["TimeSpentAlgorithm"]
    assert isinstance(algorithm, GraphQLEnumType)
    assert list(algorithm.values) == ["USE_STATS", "DEDICATION"]


def test_introspection_setting_does_not_change_the_sdl() -> None:
    assert build_schema(Settings(introspection=False)).as_str() == build_schema(Settings()).as_str()
