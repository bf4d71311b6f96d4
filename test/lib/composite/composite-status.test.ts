import { describe, expect, it } from "vitest";
import { isEmptyResult, passedStatusOf } from "../../../lib/composite/status";

describe("isEmptyResult", () => {
  it.each([
    [null, undefined, true],
    [[], undefined, true],
    [undefined, undefined, true],
    [{}, undefined, false],
    [0, undefined, false],
    ["", undefined, false],
    [[{ id: 1 }], undefined, false],
    [[], "[0]", true],
    [[{ id: 1 }], "[0]", false],
    [{ data: { user: null } }, "data.user", true],
    [{ data: {} }, "data.user", true],
    [{ data: { items: [] } }, "data.items", true],
    [{ data: { items: [1] } }, "data.items", false],
    ["text", "a.b", true],
  ])("%j at %s is empty: %s", (body, path, empty) => {
    expect(isEmptyResult(body, path)).toBe(empty);
  });
});

describe("passedStatusOf", () => {
  const failed = (status: number) => ({ status, error: { code: "http_status" as const, message: `the upstream answered ${status}` } });
  it("passes only a listed status of an http_status failure", () => {
    expect(passedStatusOf({ id: "s", passStatus: [404, 409] }, failed(409))).toMatchObject({ code: "conflict", status: 409 });
    expect(passedStatusOf({ id: "s", passStatus: [404] }, failed(410))).toBeUndefined();
    expect(passedStatusOf({ id: "s" }, failed(404))).toBeUndefined();
    expect(passedStatusOf({ id: "s", passStatus: [404] }, { status: 404, error: { code: "timeout", message: "late" } })).toBeUndefined();
  });
});
