/**
 * The tree's shape, read with the TypeScript compiler's parser (no type checking, so it is fast):
 * which module imports which, and how long each function is. Used by test/import-graph.test.ts and
 * test/function-length.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

const SOURCE_FILE = /\.(ts|mts|js|mjs)$/;

/** Every source file under the given top-level folders, as repository-relative paths, sorted. */
export function sourceFiles(folders: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) found.push(relative(REPO_ROOT, path));
    }
  };
  for (const folder of folders) walk(join(REPO_ROOT, folder));
  return found.sort();
}

/** Parses a repository file, or `text` under that name. */
function parse(file: string, text?: string): ts.SourceFile {
  const source = text ?? readFileSync(join(REPO_ROOT, file), 'utf8');
  return ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
}

export interface ImportEdge {
  readonly from: string;
  /** Repository-relative path of the imported module. */
  readonly to: string;
  /** `import type` / `export type ... from`: erased at run time, still an arrow between modules. */
  readonly typeOnly: boolean;
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const bindings = clause.namedBindings;
  return (
    !clause.name &&
    bindings !== undefined &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((e) => e.isTypeOnly)
  );
}

/** The relative imports of one file: static imports, re-exports and `import('...')` with a literal. */
export function importsOf(file: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean): void => {
    if (!specifier.startsWith('.')) return; // packages and node: builtins are outside the graph
    edges.push({ from: file, to: relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier)), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, isTypeOnlyImport(node));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [specifier] = node.arguments;
      if (specifier && ts.isStringLiteral(specifier)) add(specifier.text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(parse(file));
  return edges;
}

/** Strongly connected components of more than one module (Tarjan): each is a circle of imports. */
export function importCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const edge of edges) next.set(edge.from, [...(next.get(edge.from) ?? []), edge.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (module: string): void => {
    index.set(module, index.size);
    low.set(module, index.get(module)!);
    stack.push(module);
    onStack.add(module);
    for (const target of next.get(module) ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(module, Math.min(low.get(module)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(module, Math.min(low.get(module)!, index.get(target)!));
      }
    }
    if (low.get(module) !== index.get(module)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== module);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const module of next.keys()) if (!index.has(module)) connect(module);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

export interface FunctionSpan {
  /** `path:line`, the line where the function starts. */
  readonly at: string;
  readonly file: string;
  readonly name: string;
  readonly lines: number;
  /** The text after `// long:` in the comments just above the declaration, if any. */
  readonly reason?: string;
}

const LONG_REASON = /\/\/\s*long:\s*(.*)$/m;

/** The declaration whose leading comments document a function: its statement, property or class member. */
function documentedNode(node: ts.Node): ts.Node {
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent)) return parent.parent.parent; // declaration list -> statement
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent;
  return node;
}

function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  const parent = node.parent;
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(source);
  }
  return '<anonymous>';
}

function reasonOf(node: ts.Node, source: ts.SourceFile): string | undefined {
  const text = source.getFullText();
  const ranges = ts.getLeadingCommentRanges(text, documentedNode(node).getFullStart()) ?? [];
  for (const range of ranges) {
    const match = LONG_REASON.exec(text.slice(range.pos, range.end));
    if (match) return match[1]!.trim();
  }
  return undefined;
}

/** Every function, method, constructor and accessor with a body, with its length in lines. */
export function functionSpans(file: string, text?: string): FunctionSpan[] {
  const source = parse(file, text);
  const spans: FunctionSpan[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const declaration = node as ts.FunctionLikeDeclaration;
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const reason = reasonOf(node, source);
      spans.push({
        at: `${file}:${first + 1}`,
        file,
        name: nameOf(declaration, source),
        lines: last - first + 1,
        ...(reason === undefined ? {} : { reason }),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return spans;
}
