// The demo: `crossdock demo` (bounded, checked against the sandbox's own state) and
// `crossdock start --demo` (sandbox, continuous traffic, live summary).
export { runDemo, checkCases, DEMO_FAULTS } from './run-demo.ts';
export type { DemoOptions, DemoResult } from './run-demo.ts';
export { registerDemoCommand } from './demo-command.ts';
export type { DemoCommandContext } from './demo-command.ts';
export { startDemoPipeline } from './demo-pipeline.ts';
export type { DemoPipeline, DemoPipelineOptions, DemoSummary } from './demo-pipeline.ts';
export { startEmbeddedPipeline } from './embedded-pipeline.ts';
export type { EmbeddedPipeline, EmbeddedPipelineOptions } from './embedded-pipeline.ts';
