package zdctl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/runner"
)

// argKind says what the arguments of a verb complete to. verbArgs below
// is the single table behind both the shell's TAB completion (complete)
// and the scripts of "zdctl completion bash|zsh|fish", so the
// two always offer the same words.
type argKind int

const (
	argNone    argKind = iota // nothing to offer (stop, wait, ...)
	argFiles                  // file names (logtail FILE, fg/start ARGS, shell CMD)
	argSignals                // kill: signal names with and without SIG
	argTopics                 // show: its topics and --json
	argVerbs                  // help: the verbs
	argStatus                 // status: -l and --json
	argOptions                // reload: zdctl's options
	argShells                 // completion: the shells a script is made for
)

var verbArgs = map[string]argKind{
	"completion": argShells,
	"fg":         argFiles,
	"foreground": argFiles,
	"help":       argVerbs,
	"kill":       argSignals,
	"logtail":    argFiles,
	"reload":     argOptions,
	"restart":    argFiles,
	"shell":      argFiles,
	"show":       argTopics,
	"start":      argFiles,
	"status":     argStatus,
}

// completionShells are the shells "zdctl completion" writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

// verbNames lists the verbs of the command table in table order.
func verbNames() []string {
	out := make([]string, 0, len(commands))
	for _, cmd := range commands {
		out = append(out, cmd.name)
	}
	return out
}

// argWords is the fixed word list of a kind (nil for argFiles/argNone).
func argWords(k argKind) []string {
	switch k {
	case argSignals:
		var names []string
		for _, n := range signalNames() {
			names = append(names, n, strings.TrimPrefix(n, "SIG"))
		}
		slices.Sort(names)
		return names
	case argTopics:
		return append(append([]string(nil), showTopics...), "--json")
	case argVerbs:
		return verbNames()
	case argStatus:
		return []string{"-l", "--json"}
	case argOptions:
		flags, _ := optionWords()
		return flags
	case argShells:
		return completionShells
	}
	return nil
}

// optionWords lists zdctl's options as typed on a command line ("-C",
// "--configure"), all of them, and separately those taking a value.
func optionWords() (all, withValue []string) {
	for _, o := range runner.OptionTable(runner.Zdctl) {
		var forms []string
		if o.Short != 0 {
			forms = append(forms, "-"+string(o.Short))
		}
		if o.Long != "" {
			forms = append(forms, "--"+o.Long)
		}
		all = append(all, forms...)
		if o.HasArg {
			withValue = append(withValue, forms...)
		}
	}
	return all, withValue
}

// complete proposes TAB completions in the shell: verbs at the start of
// the line, then per verb what verbArgs says (file names for a verb it
// does not know, as before).
func (c *Controller) complete(line string) []string {
	fields := strings.Fields(line)
	atNewWord := strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") || line == ""
	if len(fields) == 0 || (len(fields) == 1 && !atNewWord) {
		return verbNames()
	}
	verb := fields[0]
	if verb == "?" {
		verb = "help"
	}
	word := ""
	if !atNewWord {
		word = fields[len(fields)-1]
	}
	k, known := verbArgs[verb]
	switch {
	case !known && lookup(verb) == nil, k == argFiles:
		return completeFiles(word)
	case k == argOptions:
		// reload [options]: an option's value is a file name.
		_, withValue := optionWords()
		prev := fields[len(fields)-1]
		if !atNewWord && len(fields) > 1 {
			prev = fields[len(fields)-2]
		}
		if slices.Contains(withValue, prev) && len(fields) > 1 && (atNewWord || len(fields) > 2) {
			return completeFiles(word)
		}
	}
	return argWords(k)
}

func completeFiles(word string) []string {
	matches, _ := filepath.Glob(globEscape(word) + "*")
	for i, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			matches[i] = m + "/"
		}
	}
	return matches
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// completionCommands are the command names the scripts complete: zdctl,
// and zeoctl, the wrapper mkzeoinst writes (ZODB3 ZEO/mkzeoinst.py).
var completionCommands = []string{"zdctl", "zeoctl"}

// doCompletion is "completion bash|zsh|fish". It needs no program: Main
// calls it before options are checked when it is the first word.
func (c *Controller) doCompletion(arg string) int {
	return writeCompletion(c.Stdout, c.Stderr, arg)
}

func writeCompletion(stdout, stderr io.Writer, shell string) int {
	var script string
	switch strings.TrimSpace(shell) {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	default:
		fmt.Fprintf(stderr, "Error: completion needs one of %s, not %s\n",
			strings.Join(completionShells, ", "), pyrepr.Str(shell))
		return 2
	}
	io.WriteString(stdout, script)
	return 0
}

// shellWord quotes a word for bash, zsh and fish alike: the words are
// verbs, options and signal names, so plain ones go as they are.
func shellWord(w string) string {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c == '-' || c == '_' || c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return w
}

func shellWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = shellWord(w)
	}
	return strings.Join(q, " ")
}

// kindsInOrder lists the argument kinds with their verbs, in a fixed
// order, so the generated scripts are stable.
func kindsInOrder() []struct {
	kind  argKind
	verbs []string
} {
	var out []struct {
		kind  argKind
		verbs []string
	}
	for k := argFiles; k <= argShells; k++ {
		var verbs []string
		for _, v := range verbNames() {
			if verbArgs[v] == k {
				verbs = append(verbs, v)
			}
		}
		if len(verbs) > 0 {
			out = append(out, struct {
				kind  argKind
				verbs []string
			}{k, verbs})
		}
	}
	return out
}

func bashCompletion() string {
	all, withValue := optionWords()
	var b strings.Builder
	b.WriteString("# bash completion for zdctl; generated by \"zdctl completion bash\".\n")
	b.WriteString("# Load it with: source <(zdctl completion bash)\n")
	b.WriteString("_zdctl() {\n")
	b.WriteString("    local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n")
	b.WriteString("    local prev=\"\"\n")
	b.WriteString("    (( COMP_CWORD > 0 )) && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	fmt.Fprintf(&b, "    local verbs=%q\n", shellWords(verbNames()))
	fmt.Fprintf(&b, "    local opts=%q\n", shellWords(all))
	b.WriteString("    # Options come before the action; find the action, skipping option values.\n")
	b.WriteString("    local i=1 verb=\"\" w\n")
	b.WriteString("    while (( i < COMP_CWORD )); do\n")
	b.WriteString("        w=\"${COMP_WORDS[i]}\"\n")
	b.WriteString("        case \"$w\" in\n")
	fmt.Fprintf(&b, "            %s) (( i++ )) ;;\n", strings.Join(withValue, "|"))
	b.WriteString("            -*) ;;\n")
	b.WriteString("            *) verb=\"$w\"; break ;;\n")
	b.WriteString("        esac\n")
	b.WriteString("        (( i++ ))\n")
	b.WriteString("    done\n")
	b.WriteString("    COMPREPLY=()\n")
	b.WriteString("    if [[ -z \"$verb\" ]]; then\n")
	b.WriteString("        case \"$prev\" in\n")
	fmt.Fprintf(&b, "            %s) COMPREPLY=( $(compgen -f -- \"$cur\") ); return 0 ;;\n", strings.Join(withValue, "|"))
	b.WriteString("        esac\n")
	b.WriteString("        if [[ \"$cur\" == -* ]]; then\n")
	b.WriteString("            COMPREPLY=( $(compgen -W \"$opts\" -- \"$cur\") )\n")
	b.WriteString("        else\n")
	b.WriteString("            COMPREPLY=( $(compgen -W \"$verbs\" -- \"$cur\") )\n")
	b.WriteString("        fi\n")
	b.WriteString("        return 0\n")
	b.WriteString("    fi\n")
	b.WriteString("    case \"$verb\" in\n")
	for _, kv := range kindsInOrder() {
		fmt.Fprintf(&b, "        %s)\n", strings.Join(kv.verbs, "|"))
		switch kv.kind {
		case argFiles:
			b.WriteString("            COMPREPLY=( $(compgen -f -- \"$cur\") ) ;;\n")
		case argOptions:
			b.WriteString("            case \"$prev\" in\n")
			fmt.Fprintf(&b, "                %s) COMPREPLY=( $(compgen -f -- \"$cur\") ) ;;\n", strings.Join(withValue, "|"))
			b.WriteString("                *) COMPREPLY=( $(compgen -W \"$opts\" -- \"$cur\") ) ;;\n")
			b.WriteString("            esac ;;\n")
		default:
			fmt.Fprintf(&b, "            COMPREPLY=( $(compgen -W %q -- \"$cur\") ) ;;\n", shellWords(argWords(kv.kind)))
		}
	}
	b.WriteString("    esac\n")
	b.WriteString("    return 0\n")
	b.WriteString("}\n")
	fmt.Fprintf(&b, "complete -o filenames -F _zdctl %s\n", strings.Join(completionCommands, " "))
	return b.String()
}

func zshCompletion() string {
	all, withValue := optionWords()
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n", strings.Join(completionCommands, " "))
	b.WriteString("# zsh completion for zdctl; generated by \"zdctl completion zsh\".\n")
	b.WriteString("# Put it in a directory of $fpath as _zdctl, or: source <(zdctl completion zsh)\n")
	b.WriteString("_zdctl() {\n")
	fmt.Fprintf(&b, "    local -a verbs opts\n    verbs=(%s)\n    opts=(%s)\n", shellWords(verbNames()), shellWords(all))
	b.WriteString("    local i verb=\n")
	b.WriteString("    for (( i = 2; i < CURRENT; i++ )); do\n")
	b.WriteString("        case $words[i] in\n")
	fmt.Fprintf(&b, "            %s) (( i++ )) ;;\n", strings.Join(withValue, "|"))
	b.WriteString("            -*) ;;\n")
	b.WriteString("            *) verb=$words[i]; break ;;\n")
	b.WriteString("        esac\n")
	b.WriteString("    done\n")
	b.WriteString("    if [[ -z $verb ]]; then\n")
	b.WriteString("        case $words[CURRENT-1] in\n")
	fmt.Fprintf(&b, "            %s) _files; return ;;\n", strings.Join(withValue, "|"))
	b.WriteString("        esac\n")
	b.WriteString("        if [[ $PREFIX == -* ]]; then compadd -a opts; else compadd -a verbs; fi\n")
	b.WriteString("        return\n")
	b.WriteString("    fi\n")
	b.WriteString("    case $verb in\n")
	for _, kv := range kindsInOrder() {
		fmt.Fprintf(&b, "        %s)\n", strings.Join(kv.verbs, "|"))
		switch kv.kind {
		case argFiles:
			b.WriteString("            _files ;;\n")
		case argOptions:
			b.WriteString("            case $words[CURRENT-1] in\n")
			fmt.Fprintf(&b, "                %s) _files ;;\n", strings.Join(withValue, "|"))
			b.WriteString("                *) compadd -a opts ;;\n")
			b.WriteString("            esac ;;\n")
		default:
			fmt.Fprintf(&b, "            compadd -- %s ;;\n", shellWords(argWords(kv.kind)))
		}
	}
	b.WriteString("    esac\n")
	b.WriteString("}\n")
	b.WriteString("if [[ $funcstack[1] == _zdctl ]]; then\n")
	b.WriteString("    _zdctl \"$@\"\n")
	b.WriteString("else\n")
	fmt.Fprintf(&b, "    compdef _zdctl %s\n", strings.Join(completionCommands, " "))
	b.WriteString("fi\n")
	return b.String()
}

func fishCompletion() string {
	_, withValue := optionWords()
	var b strings.Builder
	b.WriteString("# fish completion for zdctl; generated by \"zdctl completion fish\".\n")
	b.WriteString("# Save it as ~/.config/fish/completions/zdctl.fish (and zeoctl.fish).\n")
	b.WriteString("function __zdctl_verb\n")
	b.WriteString("    # The action: the first word that is neither an option nor an option's value.\n")
	b.WriteString("    set -l words (commandline -opc)\n")
	b.WriteString("    set -e words[1]\n")
	b.WriteString("    set -l skip 0\n")
	b.WriteString("    for w in $words\n")
	b.WriteString("        if test $skip = 1\n")
	b.WriteString("            set skip 0\n")
	b.WriteString("            continue\n")
	b.WriteString("        end\n")
	b.WriteString("        switch $w\n")
	fmt.Fprintf(&b, "            case '%s'\n", strings.Join(withValue, "' '"))
	b.WriteString("                set skip 1\n")
	b.WriteString("            case '-*'\n")
	b.WriteString("            case '*'\n")
	b.WriteString("                echo $w\n")
	b.WriteString("                return 0\n")
	b.WriteString("        end\n")
	b.WriteString("    end\n")
	b.WriteString("    return 1\n")
	b.WriteString("end\n")
	b.WriteString("function __zdctl_verb_is\n")
	b.WriteString("    set -l v (__zdctl_verb); or return 1\n")
	b.WriteString("    contains -- $v $argv\n")
	b.WriteString("end\n")
	for _, name := range completionCommands {
		fmt.Fprintf(&b, "complete -c %s -f\n", name)
		for _, o := range runner.OptionTable(runner.Zdctl) {
			line := fmt.Sprintf("complete -c %s -n 'not __zdctl_verb'", name)
			if o.Short != 0 {
				line += " -s " + string(o.Short)
			}
			if o.Long != "" {
				line += " -l " + o.Long
			}
			if o.HasArg {
				line += " -r -F"
			}
			b.WriteString(line + "\n")
		}
		fmt.Fprintf(&b, "complete -c %s -n 'not __zdctl_verb' -a %s\n", name, shellWord(shellWords(verbNames())))
		for _, kv := range kindsInOrder() {
			cond := "__zdctl_verb_is " + strings.Join(kv.verbs, " ")
			switch kv.kind {
			case argFiles:
				fmt.Fprintf(&b, "complete -c %s -n %s -F\n", name, shellWord(cond))
			case argOptions:
				all, _ := optionWords()
				fmt.Fprintf(&b, "complete -c %s -n %s -F -a %s\n", name, shellWord(cond), shellWord(shellWords(all)))
			default:
				fmt.Fprintf(&b, "complete -c %s -n %s -a %s\n", name, shellWord(cond), shellWord(shellWords(argWords(kv.kind))))
			}
		}
	}
	return b.String()
}
