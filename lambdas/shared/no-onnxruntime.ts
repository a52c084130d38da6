/**
 * Stand-in for onnxruntime-node inside the Lambda bundles (esbuild alias in
 * cdk/constructs/stage-function.ts). The stage modules share imports with the embed stage, but no
 * Lambda runs a model: inference runs only in the Batch GPU container. Any use fails loudly.
 */
const unavailable = (): never => {
  throw new Error('onnxruntime-node is not bundled into the Lambda functions; inference runs in the Batch container');
};

export const InferenceSession = { create: unavailable };
export const Tensor = unavailable;
export const env = {};
export default { InferenceSession, Tensor, env };
