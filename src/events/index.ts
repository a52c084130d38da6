/** The event data model (docs/data.md): schema, validation, reading and writing of event and item files. */
export {
  assertDayComplete,
  COMPLETION_MARKER,
  classifyDayFileName,
  classifyEventObjects,
  type EventDayListing,
  type EventFileInfo,
  type EventListing,
  type IgnoredFile,
  type IgnoredReason,
  ignoredCounts,
  listEventDay,
  MissingMarkerError,
} from './day-files.ts';
export { DataError, type DataErrorReason } from './errors.ts';
export { decodeItems, encodeItems, type ItemVectors, readItemTable } from './items.ts';
export {
  type EventDayResult,
  type EventSource,
  listEventDays,
  listEventFiles,
  objectByteSource,
  readEventColumns,
  readEventDay,
  readEventFile,
  readEventRows,
} from './read-events.ts';
export * from './schema.ts';
export {
  checkRow,
  DuplicateIndex,
  duplicateKey,
  eventsOf,
  QUARANTINE_REASONS,
  type QuarantinedRow,
  type QuarantineReason,
  VALID_ROW,
  type ValidatedColumns,
  type ValidateOptions,
  type ValidationResult,
  validateEventColumns,
  validateEventTable,
} from './validate.ts';
export {
  DailyEventWriter,
  type DailyEventWriterOptions,
  directorySink,
  type EventColumns,
  encodeEvents,
  type FileSink,
  type WriteSummary,
} from './write-events.ts';
