package zdctl

import (
	"sort"
	"strings"
)

const docHeader = "Documented commands (type help <topic>):"

// zdkitTopic is the help topic that explains zdkit's additions. It is not
// a verb, so it does not show in the listing (cmd.Cmd would list a help_
// topic under "Miscellaneous help topics" and change zdaemon's text).
const zdkitTopic = "zdkit"

// doHelp is cmd.Cmd.do_help: with a topic, its help text or
// "*** No help on X"; without, the column listing of zdaemon 5.2.1's
// verbs (zdkit's own are explained by "help zdkit").
func (c *Controller) doHelp(arg string) int {
	if arg == zdkitTopic {
		c.printf("%s", ZdkitHelp)
		return 0
	}
	if arg != "" {
		if cmd := lookup(arg); cmd != nil && cmd.help != "" {
			c.printf("%s", cmd.help)
		} else {
			c.printf("*** No help on %s\n", arg)
		}
		return 0
	}
	var names []string
	for _, cmd := range commands {
		if !zdkitVerbs[cmd.name] {
			names = append(names, cmd.name)
		}
	}
	sort.Strings(names) // byte order, as Python sorts dir(): "EOF" first
	c.printf("\n%s", helpListing(names))
	return 0
}

// helpListing is cmd.Cmd.print_topics for the documented commands.
func helpListing(names []string) string {
	var b strings.Builder
	b.WriteString(docHeader + "\n")
	b.WriteString(strings.Repeat("=", len(docHeader)) + "\n")
	b.WriteString(columnize(names, 79))
	b.WriteString("\n")
	return b.String()
}

// columnize is cmd.Cmd.columnize: the fewest rows whose columns,
// separated by two spaces, fit in width; filled column by column; each
// cell left-justified to its column's width (so lines may end in
// blanks, as Python's do).
func columnize(list []string, width int) string {
	size := len(list)
	if size == 0 {
		return "<empty>\n"
	}
	if size == 1 {
		return list[0] + "\n"
	}
	nrows, ncols := 0, 0
	var colwidths []int
	found := false
	for nrows = 1; nrows < size; nrows++ {
		ncols = (size + nrows - 1) / nrows
		colwidths = colwidths[:0]
		total := -2
		for col := 0; col < ncols; col++ {
			w := 0
			for row := 0; row < nrows; row++ {
				i := row + nrows*col
				if i >= size {
					break
				}
				w = max(w, len(list[i]))
			}
			colwidths = append(colwidths, w)
			total += w + 2
			if total > width {
				break
			}
		}
		if total <= width {
			found = true
			break
		}
	}
	if !found {
		nrows, ncols, colwidths = size, 1, []int{0}
	}
	var b strings.Builder
	for row := 0; row < nrows; row++ {
		var texts []string
		for col := 0; col < ncols; col++ {
			i := row + nrows*col
			x := ""
			if i < size {
				x = list[i]
			}
			texts = append(texts, x)
		}
		for len(texts) > 0 && texts[len(texts)-1] == "" {
			texts = texts[:len(texts)-1]
		}
		for col := range texts {
			texts[col] += strings.Repeat(" ", colwidths[col]-len(texts[col]))
		}
		b.WriteString(strings.Join(texts, "  ") + "\n")
	}
	return b.String()
}
