/** BTF and `.BTF.ext`: writing them for objects, reading them from objects and from the kernel. */
export { Btf } from './reader.js';
export { BtfBuilder } from './writer.js';
export { BtfError } from './errors.js';
export { decodeBtfExt, encodeBtfExt, type BtfExt, type FuncInfo, type LineInfo } from './ext.js';
export { enumValues, KERNEL_BTF_PATH, readKernelBtf } from './kernel.js';
export * from './types.js';
