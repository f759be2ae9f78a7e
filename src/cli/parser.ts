// The command-line parser: commander, set up so that every mistake is one
// line in our words (a UsageError: main prints `vqsim: <message>` and exits
// 2), help and --version go through the Io, and nothing calls process.exit.
import { Command, CommanderError, Option, type Argument, type OptionValues } from 'commander';
import type { Io } from './io.js';
import { UsageError } from './usage.js';

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** ` (did you mean X?)` when `s` is a near miss of one of `all`, else ''. */
export function suggest(s: string, all: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of all) {
    const dist = editDistance(s.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? ` (did you mean ${best}?)` : '';
}

/**
 * How a command with subcommands says that `name` is none of them, with a
 * suggestion (set where the tree is built; the default names them all).
 */
const unknownSubcommand = new WeakMap<Command, (name: string, names: readonly string[]) => string>();

export function sayUnknownSubcommand(c: Command, say: (name: string, names: readonly string[]) => string): Command {
  unknownSubcommand.set(c, say);
  return c;
}

/** One line saying that `name` is no subcommand of `c`: what they are, and a near miss. */
export function unknownSubcommandOf(c: Command, name: string): string {
  const names = c.commands.map((s) => s.name()).filter((n) => n !== 'help');
  const say =
    unknownSubcommand.get(c) ??
    ((n: string, all: readonly string[]) =>
      `unknown command ${n}: must be ${all.join(', ')}${suggest(n, all)} (see ${commandPath(c)} --help)`);
  return say(name, names);
}

/** `vqsim bench net`: the command's path as typed. */
export function commandPath(c: Command): string {
  return c.parent ? `${commandPath(c.parent)} ${c.name()}` : c.name();
}

/** The long (or short) flag of an option as commander names it in a message: `'-s, --seed <n>'` → `--seed`. */
function flagIn(text: string): string {
  return /--[\w-]+/.exec(text)?.[0] ?? /-\w/.exec(text)?.[0] ?? text;
}

/** `<name>` or `[name...]`, as a command's argument is written in a usage line. */
function argumentTerm(a: Argument): string {
  const name = `${a.name()}${a.variadic ? '...' : ''}`;
  return a.required ? `<${name}>` : `[${name}]`;
}

/** What commander found wrong with the command line of `c`, said as our one line. */
export function usageMessage(c: Command, e: CommanderError): string {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  // commander's near miss, "\n(Did you mean --time?)", folded into the line.
  const near = /\(Did you mean (.*)\?\)/.exec(e.message)?.[1];
  const mean = near === undefined ? '' : ` (did you mean ${near}?)`;
  switch (e.code) {
    case 'commander.unknownOption': {
      const [name] = quoted.split('=');
      const own = c.options.find((o) => o.long === name || o.short === name);
      if (own && quoted.includes('=')) return `${name}: takes no value`;
      // A flag of another benchmark or study: a sibling's, or the parent's own (not the root's: -q, --version).
      const p = c.parent;
      const elsewhere =
        p && [...(p.parent ? [p] : []), ...p.commands].some((s) => s !== c && s.options.some((o) => o.long === name));
      if (elsewhere && name!.startsWith('--')) {
        return `${name}: not an option of ${commandPath(c).replace(/^\S+ /, '')} (${commandPath(c)} --help)`;
      }
      return `unknown flag ${quoted}: see --help for the flags allowed${mean}`;
    }
    case 'commander.optionMissingArgument':
      return `${flagIn(quoted)}: needs a value`;
    case 'commander.missingMandatoryOptionValue':
      return `${commandPath(c).replace(/^\S+ /, '')}: ${quoted.replace(/^-\w, |[<>]/g, '')} is required`;
    case 'commander.unknownCommand':
      return unknownSubcommandOf(c, c.args[0] ?? '');
    case 'commander.excessArguments': {
      // bench runs ring itself and has benchmarks: a word that is neither is an unknown benchmark.
      const extra = c.args[c.registeredArguments.length] ?? '';
      if (c.commands.length > 0) return unknownSubcommandOf(c, extra);
      return `unexpected argument ${extra}: see ${commandPath(c)} --help`;
    }
    default:
      // Nothing vqsim declares reaches here (an argument's choices, say): commander's first line.
      return e.message.replace(/^error: /, '').split('\n')[0]!;
  }
}

/** Help and --version: not errors (exit 0); help after a missing subcommand is one (exit 2). */
export class HelpShown extends Error {
  constructor(readonly exitCode: number) {
    super('help shown');
    this.name = 'HelpShown';
  }
}

/**
 * Sets up every command of the tree under `root`: output through `io`
 * (help on stdout, help for a missing subcommand on stderr), no error
 * printed by commander, and each error thrown as our UsageError in place of
 * commander's exit.
 */
export function configure(root: Command, io: Pick<Io, 'out' | 'err'>): Command {
  const walk = (c: Command): void => {
    c.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: () => {} });
    c.showSuggestionAfterError(true);
    c.exitOverride((e) => {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') throw new HelpShown(0);
      if (e.code === 'commander.help') throw new HelpShown(2);
      throw new UsageError(usageMessage(c, e));
    });
    c.commands.forEach(walk);
  };
  walk(root);
  return root;
}

/**
 * A new command named `name` with the settings the whole tree shares:
 * `-h, --help`, options only before a subcommand (so a benchmark's flags
 * reach the benchmark), one line per command in its parent's list.
 */
export function newCommand(name: string): Command {
  return new Command(name)
    .helpOption('-h, --help', 'show this help')
    .enablePositionalOptions()
    .configureHelp({
      // Descriptions are written as wrapped paragraphs: commander rewraps them to the terminal.
      commandDescription: (c) => c.description().replace(/(?<!\n)\n(?!\n)/g, ' '),
      // A command and its arguments (`merge [file...]`), without commander's `[options]`.
      subcommandTerm: (s) => [s.name(), ...s.registeredArguments.map(argumentTerm)].join(' '),
    });
}

/**
 * `--flag <arg>`: its value checked and converted by `parse` (which throws a
 * UsageError naming the flag and what is allowed). `fallback`, written as on
 * a command line, is the value when the flag is absent, shown in the help;
 * `{ shown }` only says what the command does without the flag.
 */
export function valueFlag<T>(
  flags: string,
  description: string,
  parse: (flag: string, value: string) => T,
  fallback?: string | { shown: string },
): Option {
  const said = typeof fallback === 'object' ? `${description} (default: ${fallback.shown})` : description;
  const o = new Option(flags, said);
  const flag = (o.long ?? o.short ?? flags).replace(/^-+/, '');
  o.argParser((v: string) => parse(flag, v));
  return typeof fallback === 'string' ? o.default(parse(flag, fallback), fallback) : o;
}

/**
 * `--flag <word>`: one of `all` (listed in the help as its choices); anything
 * else is one line naming the flag, the words allowed and a near miss.
 */
export function oneOf<T extends string>(flags: string, description: string, all: readonly T[], fallback?: T): Option {
  const o = new Option(flags, description).choices(all);
  const flag = o.long ?? flags;
  o.argParser((v: string): T => {
    if ((all as readonly string[]).includes(v)) return v as T;
    throw new UsageError(`${flag} ${v}: must be one of ${all.join(', ')}${suggest(v, all)}`);
  });
  return fallback === undefined ? o : o.default(fallback, fallback);
}

/**
 * The option values a command's flags give for `args` alone, outside the tree
 * (the parse functions the tests call); a mistake is the same UsageError.
 */
export function flagValues<T extends OptionValues>(define: (c: Command) => Command, args: readonly string[]): T {
  let values: OptionValues = {};
  const c = define(newCommand('vqsim')).action((...a: unknown[]) => {
    values = (a.at(-1) as Command).opts();
  });
  configure(c, { out: () => {}, err: () => {} }).parse([...args], { from: 'user' });
  return values as T;
}
