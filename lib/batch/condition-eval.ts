import type { Comparison, Condition, Literal, Operand } from "./condition";
import { followPath, type Scope } from "./template";

/**
 * Evaluating a parsed `when` (condition.ts) against what the batch has so far, and writing one back
 * as text. Evaluation is total: it reads plain JSON and never throws. A path that does not resolve
 * (an absent field, a step that was skipped) is absent: `exists` is false, `!=` is true and every
 * other comparison is false. Only single values compare: values of different types are not equal,
 * ordering compares two numbers or two strings (by UTF-16 code units) and is false otherwise, and an
 * object or array equals nothing. An operand on its own holds only when it is the boolean `true`.
 */

const ABSENT: unique symbol = Symbol("absent");
type Value = unknown | typeof ABSENT;

/** Thrown inside followPath when a path does not resolve; caught here, never escapes. */
const NOT_FOUND = new Error("absent");
const notFound = (): never => {
  throw NOT_FOUND;
};

function resolve(operand: Operand, scope: Scope): Value {
  if ("literal" in operand) return operand.literal;
  const { root, path } = operand.path;
  const from = scope.inputs && Object.hasOwn(scope.inputs, root) ? scope.inputs[root] : scope.step(root);
  if (from === undefined) return ABSENT;
  try {
    const found = followPath(from, path, notFound);
    return found === undefined ? ABSENT : found;
  } catch (error) {
    if (error === NOT_FOUND) return ABSENT;
    throw error;
  }
}

const isSingle = (value: Value): value is Literal =>
  value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";

/** `==`: two single values of the same type that are the same. */
function equal(left: Value, right: Value): boolean {
  return isSingle(left) && isSingle(right) && typeof left === typeof right && left === right;
}

function ordered(op: Exclude<Comparison, "==" | "!=">, left: Value, right: Value): boolean {
  const comparable = (typeof left === "number" && typeof right === "number") || (typeof left === "string" && typeof right === "string");
  if (!comparable) return false;
  const [a, b] = [left as number | string, right as number | string];
  if (op === "<") return a < b;
  if (op === "<=") return a <= b;
  if (op === ">") return a > b;
  return a >= b;
}

/** Whether `condition` holds; `scope` gives settled steps' results (undefined for a step without one) and the request's values. */
export function evaluateCondition(condition: Condition, scope: Scope): boolean {
  switch (condition.op) {
    case "and":
      return condition.of.every((part) => evaluateCondition(part, scope));
    case "or":
      return condition.of.some((part) => evaluateCondition(part, scope));
    case "not":
      return !evaluateCondition(condition.of, scope);
    case "exists":
      return resolve({ path: condition.path }, scope) !== ABSENT;
    case "is":
      return resolve(condition.value, scope) === true;
    case "in": {
      const value = resolve(condition.value, scope);
      return condition.list.some((item) => equal(value, item));
    }
    case "==":
      return equal(resolve(condition.left, scope), resolve(condition.right, scope));
    case "!=":
      return !equal(resolve(condition.left, scope), resolve(condition.right, scope));
    default:
      return ordered(condition.op, resolve(condition.left, scope), resolve(condition.right, scope));
  }
}

const literalText = (value: Literal) => JSON.stringify(value);
const operandText = (operand: Operand) => ("literal" in operand ? literalText(operand.literal) : operand.path.text);

/**
 * A condition as text that parses back to it. Parentheses only where the tree needs them (an `and`
 * inside an `or` needs none), so the text nests no deeper than the condition it was parsed from.
 */
export function formatCondition(condition: Condition): string {
  const grouped = (part: Condition) =>
    part.op === "or" || (part.op === "and" && condition.op !== "or") ? `(${formatCondition(part)})` : formatCondition(part);
  switch (condition.op) {
    case "and":
    case "or":
      return condition.of.map(grouped).join(` ${condition.op} `);
    case "not":
      return `not ${grouped(condition.of)}`;
    case "exists":
      return `exists ${condition.path.text}`;
    case "is":
      return operandText(condition.value);
    case "in":
      return `${operandText(condition.value)} in [${condition.list.map(literalText).join(", ")}]`;
    default:
      return `${operandText(condition.left)} ${condition.op} ${operandText(condition.right)}`;
  }
}
