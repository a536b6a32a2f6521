// ScriptGateway's script SDK as an ES module: the same functions as the CommonJS entry.
import sdk from './index.cjs';

export const { script, parseArgs, outputFile, log, SCHEMA_FLAG } = sdk;
export default sdk;
