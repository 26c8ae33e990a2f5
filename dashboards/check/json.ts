// How a TypeScript type of @grafana/schema looks in a JSON file: JSON has no
// enums, so a string enum (ThresholdsMode, MappingType, FieldColorModeId, …)
// is written as one of its literal values. Everything else is unchanged,
// including optional/required properties and excess-property checks.
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;
