/** The second operand of ALU and conditional-jump instructions: a register or a signed 32-bit immediate. */
export type Operand = { readonly reg: number } | { readonly imm: number };

export const isReg = (o: Operand): o is { readonly reg: number } => 'reg' in o;
