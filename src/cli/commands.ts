import type { Command } from 'commander';

/**
 * The one place that lists the CLI's commands. Each `register*` function lives in its own module
 * (src/cli/<command>.ts) and adds one command or command group; add a line here for a new one.
 */
export function registerCommands(_program: Command): void {}
