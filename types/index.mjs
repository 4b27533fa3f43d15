// A client for iohost's HTTP API; its types come from the OpenAPI document (index.d.ts). One
// implementation (index.cjs) serves ESM and CommonJS.
import client from './index.cjs';

export const { createIohostClient } = client;
