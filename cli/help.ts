/** `hintcheck help`: every command and option, and the exit codes (cli/exit.ts). */
export const HELP = `hintcheck: a model checker for free page hinting between a Linux guest and its host

usage:
  hintcheck check --design <id> [options]   explore one design, print a verdict per invariant
  hintcheck matrix [options]                 every design at its declared bounds, against expectations
  hintcheck replay <file|token>              replay a counterexample step by step on the current model
  hintcheck merge <report.json...>           combine a swarm's shard reports into one verdict and coverage
  hintcheck list                             designs, host modes and invariants
  hintcheck docs [--check]                   regenerate docs/designs/<id>.md (--check: fail if out of date)

check options:
  --design <id>          design to check (see 'hintcheck list')
  --cpus N               vCPU threads (1-6)
  --pages N              base pages (a multiple of 2^max-order, up to 32)
  --max-order K          largest buddy order (0-4)
  --report-order R       smallest order a hint covers (0..K; stands in for pageblock_order)
  --capacity C           blocks per report batch (1-8)
  --watermark-min N      zone min watermark in pages (0..pages; designs that read watermarks, d5-*)
  --migratetypes off|on  pageblock migratetypes and a pageblock isolator (designs that take part: d2-merge-notifier, d5-*)
  --poison off|on|init-on-free
  --host dontneed|madv-free|poison-on-fault|skip-if-poisoned
  --mutant <name>        a named mutant of the design (spin-reference: hold-lock, no-isolate)
  --invariant <id>       check only this invariant (repeatable)
  --max-states N         stop after N distinct states (verdicts not reached: unknown)
  --max-seconds S        stop after S seconds (verdicts not reached: unknown)
  --max-memory SIZE      stop (unknown) before the search's tables pass SIZE, e.g. 2G, 512M
                         (default: three quarters of the machine's memory)
  --reduce none|symmetry|por|all
                         state-space reductions (default: those proven sound for the design;
                         none stores every interleaving)
  --workers N            search threads (default: one per core; 1 searches on the main thread)
  --json                 print one JSON object instead of text
  --progress             print progress to stderr even when it is not a terminal
  --design-file <file>   a design of your own (TypeScript or JavaScript; see docs/writing-a-design.md)
  --trace-out <file>     write each counterexample as a trace file (for hintcheck replay)
  --minimize preemptions reorder each shortest counterexample to the fewest preemptions
  --witness <id>         also show a shortest path to where the invariant's precondition holds (repeatable)

  --explorer exhaustive|random|pct|swarm
                         exhaustive (default) proves; the others walk at random and can only
                         find violations (their other verdicts are unknown)
  --runs N               walks (default 1000; a swarm's over all its members)
  --depth N              steps per walk at most (default 200)
  --seed N               the run's seed (default 1): same seed, same walks, any --workers
  --pct-depth D          pct: bug depth, D-1 priority change points (default 3)
  --members N            swarm: diversified searches (default 16)
  --shard k/N            swarm: run only shard k (0-based) of N, e.g. one per batch job;
                         combine the --json reports with hintcheck merge
  --no-shrink            show random counterexamples as found

matrix options:
  --baseline <file>      also compare state and transition counts with a saved run (exit 1 if any moved)
  --write-baseline <file> save this run's counts
  --design-file <file>   the designs of a file instead of the built-in ones
  --workers N            worker threads (default: one per core)
  --max-seconds S, --json, --progress

replay options: --json, --design-file <file>

exit codes:
  0    every checked invariant holds and the search was complete
  1    a violation was found (matrix: a verdict or a count differs from the expected one)
  2    the command line or a design is wrong (one line says what; replay: the trace no
       longer applies to the model)
  3    incomplete: a budget or a signal stopped the search before any violation was found
       (random explorers: no violation found)
  4    an internal error of hintcheck (HINTCHECK_DEBUG=1 prints its stack)
  130, 143  a second SIGINT or SIGTERM: stopped at once, nothing printed
A first SIGINT or SIGTERM stops the search and prints what it found so far: violations with
their traces, every other verdict unknown.`;
