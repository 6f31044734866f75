import { ldPseudo } from '../load_store.js';
import type { MapDefinition } from '../program.js';
import type { Entry } from './callsite.js';
import { MemoryBuilder } from './memory.js';
import type { Reg64 } from './registers.js';

/**
 * Maps, declared by name and referenced by ld_imm64. The instruction is
 * emitted with imm 0 and a relocation; the loader puts the map's fd in imm.
 */
export class MapBuilder extends MemoryBuilder {
  /** Declare a map; it must be declared before an instruction refers to it. */
  declareMap(map: MapDefinition): this {
    this.addMap(this.declareMap, map);
    return this;
  }

  /** `dst = map` (ld_imm64, pseudo source MAP_FD): the map pointer that helpers such as map_lookup_elem take. */
  ldMap(dst: Reg64, name: string): this {
    const entry = this.ldMap;
    const d = this.mapRegister(entry, dst);
    this.declared(entry, name);
    return this.push(entry, ldPseudo(d, 'MAP_FD', 0), { kind: 'symbol', reloc: 'map_fd', symbol: name });
  }

  /**
   * `dst = &map.value[0] + offset` (ld_imm64, pseudo source MAP_VALUE): direct
   * access to the value of a single-entry array map. The offset goes into the
   * second slot's imm, where the kernel reads it, and into the relocation's addend.
   */
  ldMapValue(dst: Reg64, name: string, offset = 0): this {
    const entry = this.ldMapValue;
    const d = this.mapRegister(entry, dst);
    const map = this.declared(entry, name);
    if (map.type !== 'array') this.fail(entry, `map '${name}' is a ${map.type} map; direct value access needs an array map`);
    if (!Number.isInteger(offset) || offset < 0 || offset >= map.valueSize) {
      this.fail(entry, `offset ${offset} is outside the ${map.valueSize}-byte value of map '${name}'`);
    }
    return this.push(entry, ldPseudo(d, 'MAP_VALUE', 0, offset), { kind: 'symbol', reloc: 'map_value', symbol: name, addend: offset });
  }

  private declared(entry: Entry, name: string): MapDefinition {
    const map = this.maps.get(name);
    if (!map) {
      const known = [...this.maps.keys()];
      this.fail(entry, `map '${name}' is not declared${known.length ? ` (declared: ${known.join(', ')})` : ' (declare it with declareMap or the maps option)'}`);
    }
    return map;
  }

  private mapRegister(entry: Entry, dst: Reg64): number {
    const d = this.destination(entry, dst);
    if (d.bits !== 64) this.fail(entry, `a map reference is a 64-bit pointer; use r${d.index}, not ${d}`);
    return d.index;
  }
}
