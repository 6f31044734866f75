/**
 * Run every cleanup step even when one fails, so that a failure halfway
 * never leaves the rest attached or open; then throw the first failure.
 */
export function runAllSteps(steps: readonly (() => void)[]): void {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
}
