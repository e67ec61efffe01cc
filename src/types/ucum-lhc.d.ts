// The UCUM library ships no type declarations; src/config/kit/units.ts types the parts it uses.
declare module '@lhncbc/ucum-lhc' {
  const pkg: unknown;
  export default pkg;
}
