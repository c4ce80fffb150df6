/* RFC 5322 date-time to unix time, for SENTBEFORE/SENTON/SENTSINCE and SORT
 * DATE. Reads the standard form and what mail really carries: obsolete two-
 * and three-digit years, named zones (UT, GMT, EST ... PDT, military letters),
 * missing seconds, day-of-week or zone, comments, asctime order ("Mon Jan  1
 * 12:00:00 2001"), dashes ("01-Jan-2001") and ISO 8601 dates. One pass, no
 * locale, no allocation. */
#include "mime/mime-private.h"

#include <string.h>

#include "core/util.h"

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Read up to 9 digits at s[*i]; returns the value and the digit count. */
static int digits(const char *s, size_t len, size_t *i, int *count)
{
	int v = 0, n = 0;
	while (*i < len && is_digit(s[*i])) {
		if (n < 9)
			v = v * 10 + (s[*i] - '0');
		n++;
		(*i)++;
	}
	*count = n;
	return v;
}

static int full_year(int y, int ndigits)
{
	if (ndigits <= 2)
		return y < 50 ? 2000 + y : 1900 + y;
	if (ndigits == 3)
		return 1900 + y;
	return y;
}

static const struct {
	const char *name;
	int minutes;
} zones[] = {
	{"ut", 0}, {"utc", 0}, {"gmt", 0}, {"z", 0}, {"est", -300}, {"edt", -240}, {"cst", -360}, {"cdt", -300},
	{"mst", -420}, {"mdt", -360}, {"pst", -480}, {"pdt", -420},
};

int mime_parse_date(const char *s, size_t len, int64_t *t_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int day = -1, mon = -1, year = -1, hh = -1, mm = 0, ss = 0, zone = 0;
	size_t i = 0;
	*t_r = 0;
	while (i < len) {
		char c = s[i];
		if (c == '(') {
			int depth = 0;
			while (i < len) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
				i++;
			}
		} else if (is_alpha(c)) {
			size_t ws = i;
			while (i < len && is_alpha(s[i]))
				i++;
			size_t wl = i - ws;
			char w[4] = {0};
			for (size_t k = 0; k < wl && k < 3; k++)
				w[k] = lower(s[ws + k]);
			bool month = false;
			for (int k = 0; wl >= 3 && mon < 0 && k < 12 && !month; k++)
				if (memcmp(w, months + 3 * k, 3) == 0) {
					mon = k + 1;
					month = true;
				}
			if (month)
				continue;
			/* Named zones; other words (days, military zones, which RFC
			 * 5322 says to read as -0000) leave the zone at UTC. */
			for (size_t k = 0; wl <= 3 && k < sizeof zones / sizeof zones[0]; k++)
				if (strcmp(w, zones[k].name) == 0)
					zone = zones[k].minutes;
			/* "12:27 PM" from clients that print a 12-hour clock. */
			if (wl == 2 && w[0] == 'p' && w[1] == 'm' && hh >= 0 && hh < 12)
				hh += 12;
		} else if (is_digit(c)) {
			int n;
			int v = digits(s, len, &i, &n);
			if (i < len && s[i] == ':' && hh < 0) {
				/* hh:mm[:ss] */
				hh = v;
				i++;
				int k;
				mm = digits(s, len, &i, &k);
				if (k == 0 || k > 2 || n > 2)
					return -1;
				if (i < len && s[i] == ':' && i + 1 < len && is_digit(s[i + 1])) {
					i++;
					ss = digits(s, len, &i, &k);
					if (k > 2)
						return -1;
				}
			} else if (n == 4 && i + 2 < len && s[i] == '-' && is_digit(s[i + 1]) && year < 0 && mon < 0) {
				/* ISO 8601: yyyy-mm-dd */
				year = v;
				i++;
				int k;
				mon = digits(s, len, &i, &k);
				if (k == 0 || k > 2 || i >= len || s[i] != '-')
					return -1;
				i++;
				day = digits(s, len, &i, &k);
				if (k == 0 || k > 2)
					return -1;
			} else if (n <= 2 && day < 0) {
				day = v;
			} else if (year < 0 && n <= 4) {
				year = full_year(v, n);
			}
		} else if ((c == '+' || c == '-') && hh >= 0 && i + 1 < len && is_digit(s[i + 1])) {
			i++;
			int n;
			int v = digits(s, len, &i, &n);
			if (n == 4 && v % 100 < 60)
				zone = (v / 100 * 60 + v % 100) * (c == '-' ? -1 : 1);
		} else {
			i++;
		}
	}
	if (day < 1 || mon < 1 || mon > 12 || year < 1900 || year > 9999)
		return -1;
	if (day > days_in_month(year, mon))
		return -1;
	if (hh < 0)
		hh = 0;
	if (hh > 23 || mm > 59 || ss > 60)
		return -1;
	if (ss == 60)
		ss = 59;
	*t_r = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)zone * 60;
	return 0;
}
