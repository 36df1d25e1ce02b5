package logging

import (
	"strconv"
	"time"
)

var (
	shortDays   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// strftime appends t formatted like Python's time.strftime, which is the
// C library's strftime in the "C" locale: that is what logging.Formatter
// uses for %(asctime)s when a datefmt is given (ZConfig's dateformat).
// The record time is local time, as logging.Formatter.converter
// (time.localtime) makes it.  Directives glibc does not know are copied
// as written, which is also what glibc does; a lone '%' at the end too.
func strftime(buf []byte, layout string, t time.Time) []byte {
	pad := func(b []byte, n, width int, fill byte) []byte {
		s := strconv.Itoa(n)
		for i := len(s); i < width; i++ {
			b = append(b, fill)
		}
		return append(b, s...)
	}
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' || i+1 >= len(layout) {
			buf = append(buf, c)
			continue
		}
		i++
		switch layout[i] {
		case 'a':
			buf = append(buf, shortDays[t.Weekday()]...)
		case 'A':
			buf = append(buf, longDays[t.Weekday()]...)
		case 'b', 'h':
			buf = append(buf, shortMonths[t.Month()-1]...)
		case 'B':
			buf = append(buf, longMonths[t.Month()-1]...)
		case 'c':
			// C locale: "%a %b %e %H:%M:%S %Y".
			buf = strftime(buf, "%a %b %e %H:%M:%S %Y", t)
		case 'C':
			buf = pad(buf, t.Year()/100, 2, '0')
		case 'd':
			buf = pad(buf, t.Day(), 2, '0')
		case 'D', 'x':
			buf = strftime(buf, "%m/%d/%y", t)
		case 'e':
			buf = pad(buf, t.Day(), 2, ' ')
		case 'F':
			buf = strftime(buf, "%Y-%m-%d", t)
		case 'G':
			y, _ := t.ISOWeek()
			buf = strconv.AppendInt(buf, int64(y), 10)
		case 'g':
			y, _ := t.ISOWeek()
			buf = pad(buf, y%100, 2, '0')
		case 'H':
			buf = pad(buf, t.Hour(), 2, '0')
		case 'I':
			buf = pad(buf, hour12(t), 2, '0')
		case 'j':
			buf = pad(buf, t.YearDay(), 3, '0')
		case 'k':
			buf = pad(buf, t.Hour(), 2, ' ')
		case 'l':
			buf = pad(buf, hour12(t), 2, ' ')
		case 'm':
			buf = pad(buf, int(t.Month()), 2, '0')
		case 'M':
			buf = pad(buf, t.Minute(), 2, '0')
		case 'n':
			buf = append(buf, '\n')
		case 'p':
			if t.Hour() < 12 {
				buf = append(buf, "AM"...)
			} else {
				buf = append(buf, "PM"...)
			}
		case 'P':
			if t.Hour() < 12 {
				buf = append(buf, "am"...)
			} else {
				buf = append(buf, "pm"...)
			}
		case 'r':
			buf = strftime(buf, "%I:%M:%S %p", t)
		case 'R':
			buf = strftime(buf, "%H:%M", t)
		case 's':
			buf = strconv.AppendInt(buf, t.Unix(), 10)
		case 'S':
			buf = pad(buf, t.Second(), 2, '0')
		case 't':
			buf = append(buf, '\t')
		case 'T', 'X':
			buf = strftime(buf, "%H:%M:%S", t)
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			buf = strconv.AppendInt(buf, int64(wd), 10)
		case 'U':
			buf = pad(buf, (t.YearDay()+6-int(t.Weekday()))/7, 2, '0')
		case 'V':
			_, w := t.ISOWeek()
			buf = pad(buf, w, 2, '0')
		case 'w':
			buf = strconv.AppendInt(buf, int64(t.Weekday()), 10)
		case 'W':
			buf = pad(buf, (t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2, '0')
		case 'y':
			buf = pad(buf, t.Year()%100, 2, '0')
		case 'Y':
			buf = strconv.AppendInt(buf, int64(t.Year()), 10)
		case 'z':
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			buf = append(buf, sign)
			buf = pad(buf, off/3600, 2, '0')
			buf = pad(buf, off/60%60, 2, '0')
		case 'Z':
			name, _ := t.Zone()
			buf = append(buf, name...)
		case '%':
			buf = append(buf, '%')
		default:
			buf = append(buf, '%', layout[i])
		}
	}
	return buf
}

func hour12(t time.Time) int {
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	return h
}
