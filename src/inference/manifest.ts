import { z } from 'zod';
import { modelVersionSchema } from '../contract/messages.ts';
import { formatIssues } from '../contract/run-contract.ts';
import { ModelError } from '../util/errors.ts';

/** manifest.json of a model directory (docs/model-interface.md). Unknown keys are kept. */
export const modelManifestSchema = z.looseObject({
  formatVersion: z.literal(1),
  // the run contract's pattern, and a first character that is a letter or digit (no hidden names)
  modelVersion: modelVersionSchema.regex(/^[A-Za-z0-9]/, 'starts with a letter or digit'),
  dims: z.looseObject({
    embedding: z.number().int().positive(),
    hidden: z.number().int().positive(),
    layers: z.number().int().positive(),
    heads: z.number().int().positive(),
    maxLength: z.number().int().positive(),
    itemVector: z.number().int().nonnegative(),
  }),
  vocab: z.object({
    action: z.array(z.string().min(1)).min(1),
    surface: z.array(z.string().min(1)),
  }),
  /** Item ids: a vocabulary file in the model directory (or null), and buckets for ids not in it. */
  items: z
    .looseObject({
      idVocabulary: z.string().min(1).nullable(),
      hashBuckets: z.number().int().nonnegative().default(0),
    })
    .default({ idVocabulary: null, hashBuckets: 0 }),
  /** Graph files; `onnxCpu` (optional) is an exact CPU-tuned copy of `onnx` (docs/model-interface.md). */
  files: z
    .looseObject({
      onnx: z.literal('model.onnx').default('model.onnx'),
      onnxCpu: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.onnx$/, 'a file name in the model directory ending in .onnx')
        .optional(),
    })
    .default({ onnx: 'model.onnx' }),
  features: z.looseObject({
    absPeriodsSec: z.array(z.number().positive()).min(1),
    relPeriodsSec: z.array(z.number().positive()).min(1),
    timeReferenceMs: z.number().int(),
  }),
});

export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** Parses manifest JSON text; ModelError naming each wrong field. */
export function parseModelManifest(text: string, source = 'manifest.json'): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`${source} is not valid JSON`, { source }, { cause: error });
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues, '(root)');
    throw new ModelError(`${source} is invalid: ${issues.join('; ')}`, { source, issues });
  }
  return parsed.data;
}
