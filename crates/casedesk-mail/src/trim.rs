//! The new text of a reply: what the person typed, without the history their client quoted
//! below it, the reply header block, their signature or the "sent from my phone" line — for
//! the clients people use (Gmail, Outlook on every platform, Apple Mail, Thunderbird, phone
//! mail apps, ticket tools), in the languages our customers write, plain and HTML-only,
//! format=flowed unwrapped. Top-posted replies are the rule; text quoted inside the new text
//! (a log line) stays when the person's own words continue below it.

/// The first words of an attribution line ("On …, X wrote:") in each language we know.
const ATTRIBUTION_STARTS: [&str; 14] = [
    "on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "på ", "w dniu ", "dne ", "el día ",
    "le jour ", "в ",
];

/// How an attribution line ends, in each language we know.
const ATTRIBUTION_ENDS: [&str; 16] = [
    "wrote:",
    "writes:",
    "schrieb:",
    "geschrieben:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "ha scritto:",
    "schreef:",
    "escreveu:",
    "napisał(a):",
    "skrev:",
    "のメール:",
    "のメッセージ:",
    "書きました:",
    "написал(а):",
];

/// Separator lines some clients put above the quoted message.
const SEPARATOR_WORDS: [&str; 12] = [
    "original message",
    "original-nachricht",
    "ursprüngliche nachricht",
    "message d'origine",
    "message d’origine",
    "mensaje original",
    "messaggio originale",
    "oorspronkelijk bericht",
    "mensagem original",
    "元のメッセージ",
    "オリジナルメッセージ",
    "原始邮件",
];

/// The first key of a quoted header block ("From:", in the client's language).
const FROM_KEYS: [&str; 12] = [
    "from",
    "von",
    "de",
    "da",
    "van",
    "från",
    "fra",
    "od",
    "差出人",
    "送信者",
    "发件人",
    "寄件者",
];

/// The date key of a quoted header block ("Sent:", in the client's language): one of these
/// (or both a recipient and a subject key) below a From key makes the block.
const DATE_KEYS: [&str; 17] = [
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "enviado",
    "enviado el",
    "fecha",
    "inviato",
    "data",
    "verzonden",
    "skickat",
    "送信日時",
    "日付",
    "発信日時",
    "发送时间",
    "時間",
];

/// The recipient keys of a quoted header block.
const TO_KEYS: [&str; 9] = [
    "to",
    "an",
    "à",
    "a",
    "para",
    "aan",
    "till",
    "宛先",
    "收件人",
];

/// The subject keys of a quoted header block.
const SUBJECT_KEYS: [&str; 8] = [
    "subject",
    "betreff",
    "objet",
    "asunto",
    "oggetto",
    "onderwerp",
    "件名",
    "主题",
];

/// Lines a mail app adds below the text, whole (matched at the line's start, lower case).
const APP_SIGNATURES: [&str; 16] = [
    "sent from outlook",
    "get outlook for ",
    "sent from yahoo mail",
    "sent from mail for windows",
    "sent from proton mail",
    "sent from protonmail",
    "gesendet von outlook",
    "gesendet von yahoo",
    "obtenir outlook pour ",
    "obtener outlook para ",
    "enviado desde outlook",
    "enviado desde yahoo",
    "iphoneから送信",
    "ipadから送信",
    "androidから送信",
    "sent with proton mail",
];

/// How a phone's "sent from my …" line starts, in the languages we know; it counts only when
/// it names a device and is short, so "Sent from my laptop the login works" stays.
const DEVICE_PREFIXES: [&str; 10] = [
    "sent from my ",
    "sent via ",
    "von meinem ",
    "gesendet von meinem ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "enviado desde mi ",
    "inviato da ",
    "verzonden vanaf ",
    "sent from ",
];

const DEVICES: [&str; 20] = [
    "iphone",
    "ipad",
    "android",
    "galaxy",
    "samsung",
    "mobile",
    "smartphone",
    "phone",
    "pixel",
    "huawei",
    "xiaomi",
    "oneplus",
    "blackberry",
    "tablet",
    "handy",
    "téléphone",
    "móvil",
    "movil",
    "celular",
    "telefoon",
];

/// The verb of an attribution line, wherever the language puts it ("Am …, schrieb X:",
/// "X schrieb am …:").
const ATTRIBUTION_VERBS: [&str; 10] = [
    " wrote",
    " schrieb",
    " a écrit",
    " escribió",
    " ha scritto",
    " schreef",
    " escreveu",
    " skrev",
    " napisał",
    " написал",
];

/// Lines a ticket tool puts where the new text ends (a watermark, a reply marker).
const TICKET_MARKS: [&str; 7] = [
    "ref:msg",
    "reply above this line",
    "antworten sie oberhalb dieser zeile",
    "oberhalb dieser zeile",
    "au-dessus de cette ligne",
    "por encima de esta línea",
    "この行より上に",
];

fn lower(s: &str) -> String {
    s.trim()
        .trim_matches(|c: char| c == '*' || c == '\u{a0}')
        .trim()
        .to_lowercase()
}

/// The key of a header-like line (`From:`, `*Von:*`, `De :`, `差出人:`), lower case.
fn header_key(line: &str) -> Option<String> {
    let l = lower(line);
    let (key, _) = l.split_once([':', '：'])?;
    let key = key.trim().trim_matches('*').trim();
    (!key.is_empty() && key.chars().count() <= 12).then(|| key.to_owned())
}

fn is_attribution(lines: &[&str], i: usize) -> bool {
    let first = lower(lines[i]);
    if first.starts_with('>') || first.is_empty() {
        return false;
    }
    // Clients wrap a long attribution over up to three lines.
    let mut joined = String::new();
    for l in lines.iter().skip(i).take(3) {
        let l = lower(l);
        if l.is_empty() || l.starts_with('>') {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(&l);
        let colon = joined.ends_with(':') || joined.ends_with('：');
        let ends = ATTRIBUTION_ENDS.iter().any(|e| joined.ends_with(e))
            || (colon && ATTRIBUTION_VERBS.iter().any(|v| joined.contains(v)));
        if ends {
            let starts = ATTRIBUTION_STARTS.iter().any(|s| joined.starts_with(s));
            let dated = joined.chars().take(4).all(|c| c.is_ascii_digit());
            // An attribution names when or whom: a digit of the date or an address. "On
            // Monday our admin wrote:" is a sentence.
            let when_or_whom = joined.contains('@') || joined.chars().any(|c| c.is_ascii_digit());
            return (starts || dated || joined.contains('@'))
                && when_or_whom
                && joined.chars().count() < 300;
        }
        // Date-first attributions (Japanese clients and some others): a date, a name and
        // address, and a colon at the end.
        let dated = joined.chars().take(4).all(|c| c.is_ascii_digit())
            && joined
                .chars()
                .nth(4)
                .is_some_and(|c| matches!(c, '年' | '/' | '-' | '.'));
        // The name and address close in brackets right before the colon: a log line that
        // starts with a date and names an address ("… login ops@… rejected:") is not one.
        if dated && (joined.ends_with(">:") || joined.ends_with(">：")) && joined.contains('@') {
            return true;
        }
    }
    false
}

fn is_separator(line: &str) -> bool {
    let l = lower(line);
    let dashed = l.starts_with("--") || l.starts_with("__") || l.starts_with("==");
    dashed && SEPARATOR_WORDS.iter().any(|w| l.contains(w))
}

fn is_header_block(lines: &[&str], i: usize) -> bool {
    let Some(key) = header_key(lines[i]) else {
        return false;
    };
    // "From: https://…" is an address of the web, in someone's own words.
    if !FROM_KEYS.contains(&key.as_str()) || lines[i].contains("://") {
        return false;
    }
    let keys: Vec<String> = lines
        .iter()
        .skip(i + 1)
        .filter(|l| !l.trim().is_empty())
        .take(4)
        .filter_map(|l| header_key(l))
        .collect();
    let has = |set: &[&str]| keys.iter().any(|k| set.contains(&k.as_str()));
    has(&DATE_KEYS) || (has(&TO_KEYS) && has(&SUBJECT_KEYS))
}

fn is_app_signature(line: &str) -> bool {
    let l = lower(line);
    if APP_SIGNATURES.iter().any(|s| l.starts_with(s)) {
        return true;
    }
    if l.ends_with("から送信") && l.chars().count() < 40 {
        return true;
    }
    let words = l.split_whitespace().count();
    let german = l.starts_with("von meinem ") || l.starts_with("gesendet von meinem ");
    DEVICE_PREFIXES.iter().any(|p| l.starts_with(p))
        && DEVICES.iter().any(|d| l.contains(d))
        && words <= 8
        && (!german || l.contains("gesendet"))
}

/// Lines that carry nothing once the text above them is cut: blank, quoted, rules.
fn is_residue(line: &str) -> bool {
    let t = line.trim().trim_matches('\u{a0}');
    t.is_empty()
        || t.starts_with('>')
        || t.chars()
            .all(|c| matches!(c, '_' | '-' | '=' | '*' | '─' | '—'))
}

/// The new text of a reply: everything above the first quoted-history marker, reply header
/// block, signature delimiter, ticket-tool marker or app signature, without trailing quoted
/// and blank lines.
pub fn trim_reply(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for i in 0..lines.len() {
        let raw = lines[i].trim_end_matches(['\r', '\n']);
        let l = lower(raw);
        let cut = raw == "-- "
            || raw.trim_end() == "--"
            || is_separator(raw)
            || is_attribution(&lines, i)
            || is_header_block(&lines, i)
            || is_app_signature(raw)
            || TICKET_MARKS.iter().any(|m| l.contains(m));
        if cut {
            end = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end].to_vec();
    while kept.last().is_some_and(|l| is_residue(l)) {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    if kept.is_empty() && end < lines.len() {
        return bottom_posted(&lines[end..]);
    }
    kept.iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A reply written below the quote (or between its lines): the writer's own lines, without
/// the attribution, the quoted lines and a signature.
fn bottom_posted(lines: &[&str]) -> String {
    let mut own: Vec<&str> = Vec::new();
    let mut skip_attribution = is_attribution(lines, 0) || is_separator(lines[0]);
    for (i, line) in lines.iter().enumerate() {
        if skip_attribution {
            // The attribution may be wrapped: it ends at its line ending with a colon.
            let t = line.trim_end();
            if i > 0 && (t.starts_with('>') || t.is_empty()) {
                skip_attribution = false;
            } else {
                if t.ends_with(':') || t.ends_with('：') {
                    skip_attribution = false;
                }
                continue;
            }
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        if *line == "-- " || line.trim_end() == "--" || is_app_signature(line) {
            break;
        }
        own.push(line.trim_end());
    }
    while own.last().is_some_and(|l| is_residue(l)) {
        own.pop();
    }
    while own.first().is_some_and(|l| l.trim().is_empty()) {
        own.remove(0);
    }
    own.join("\n")
}

/// Unwraps format=flowed text (RFC 3676): soft line breaks (a trailing space) joined, the
/// space removed with `delsp=yes`, space-stuffing undone; quoted lines keep their depth.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        let depth = raw.chars().take_while(|c| *c == '>').count();
        let mut body = &raw[depth..];
        if body.starts_with(' ') {
            body = &body[1..];
        }
        let signature = body == "-- ";
        let flowed = !signature && body.ends_with(' ');
        let piece = if flowed && delsp {
            &body[..body.len() - 1]
        } else {
            body
        };
        match open.take() {
            Some((d, mut acc)) if d == depth => {
                acc.push_str(piece);
                if flowed {
                    open = Some((d, acc));
                } else {
                    out.push(quoted(d, &acc));
                }
            }
            previous => {
                if let Some((d, acc)) = previous {
                    out.push(quoted(d, &acc));
                }
                if flowed {
                    open = Some((depth, piece.to_owned()));
                } else {
                    out.push(quoted(depth, piece));
                }
            }
        }
    }
    if let Some((d, acc)) = open {
        out.push(quoted(d, &acc));
    }
    out.join("\n")
}

fn quoted(depth: usize, text: &str) -> String {
    if depth == 0 {
        text.to_owned()
    } else {
        format!("{} {}", ">".repeat(depth), text)
    }
}

/// Where the quoted history of an HTML reply begins, by the markup each client uses.
const HTML_QUOTE_MARKS: [&str; 19] = [
    "class=\"gmail_quote",
    "class=\"gmail_attr",
    "class=\"gmail_signature",
    "id=\"divrplyfwdmsg",
    "id=\"x_divrplyfwdmsg",
    "id=\"appendonsend",
    "id=\"mail-editor-reference-message-container",
    "class=\"moz-cite-prefix",
    "class=\"moz-signature",
    "type=\"cite\"",
    "class=\"yahoo_quoted",
    "id=\"yahoo_quoted",
    "class=\"outlookmessageheader",
    "border-top:solid #e1e1e1",
    "border-top:solid #b5c4df",
    "border-top: solid #e1e1e1",
    "class=\"protonmail_quote",
    "class=\"zmail_extra",
    "data-marker=\"__quoted_",
];

/// The new text of an HTML-only reply: the markup cut where a client's quote begins, made
/// text, then trimmed like a plain reply.
pub fn html_reply(html: &str) -> String {
    let low = html.to_ascii_lowercase();
    let cut = HTML_QUOTE_MARKS
        .iter()
        .filter_map(|m| low.find(m))
        .min()
        .map(|at| {
            if low[at..].starts_with('<') {
                at
            } else {
                low[..at].rfind('<').unwrap_or(at)
            }
        })
        .unwrap_or(html.len());
    trim_reply(&html_to_text(&html[..cut]))
}

const BLOCKS: [&str; 20] = [
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "blockquote",
    "pre",
    "section",
    "article",
    "header",
    "footer",
];

/// HTML as text: block elements on lines of their own, `<hr>` as a rule line, entities
/// decoded, runs of blanks made one; head, style and script dropped.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip: Option<&'static str> = None;
    let mut pre = 0usize;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map(|i| &after[i + 3..]).unwrap_or("");
            continue;
        }
        if rest.starts_with('<') {
            let Some(close) = rest.find('>') else {
                break;
            };
            let tag = &rest[1..close];
            rest = &rest[close + 1..];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(s) = skip {
                if closing && name == s {
                    skip = None;
                }
                continue;
            }
            match name.as_str() {
                "head" | "style" | "script" | "title" if !closing => {
                    skip = Some(match name.as_str() {
                        "head" => "head",
                        "style" => "style",
                        "script" => "script",
                        _ => "title",
                    });
                }
                "hr" => out.push_str("\n________________________________\n"),
                "pre" => {
                    pre = if closing {
                        pre.saturating_sub(1)
                    } else {
                        pre + 1
                    };
                    out.push('\n');
                }
                "br" => out.push('\n'),
                // One line per block; consecutive block edges make one break, not several.
                n if BLOCKS.contains(&n) && !out.ends_with('\n') => out.push('\n'),
                "td" | "th" if closing => out.push(' '),
                _ => {}
            }
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        if skip.is_none() {
            let chunk = decode_entities(&rest[..next]);
            if pre > 0 {
                out.push_str(&chunk);
            } else {
                let mut last_space = out.is_empty() || out.ends_with([' ', '\n']);
                for c in chunk.chars() {
                    if c.is_whitespace() && c != '\u{a0}' {
                        if !last_space {
                            out.push(' ');
                            last_space = true;
                        }
                    } else {
                        out.push(if c == '\u{a0}' { ' ' } else { c });
                        last_space = false;
                    }
                }
            }
        }
        rest = &rest[next..];
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    // Paragraph breaks of the markup become at most one blank line.
    let mut text = String::new();
    let mut blank = 0;
    for l in lines {
        if l.is_empty() {
            blank += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        text.push_str(l);
    }
    text
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').map(|i| i + 1).filter(|i| *i <= 10);
        let Some(end) = end else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let n = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            n.and_then(char::from_u32).map(String::from)
        } else {
            named_entity(name).map(String::from)
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "eacute" => "é",
        "egrave" => "è",
        "ecirc" => "ê",
        "agrave" => "à",
        "acirc" => "â",
        "ccedil" => "ç",
        "ocirc" => "ô",
        "ucirc" => "û",
        "uuml" => "ü",
        "ouml" => "ö",
        "auml" => "ä",
        "Uuml" => "Ü",
        "Ouml" => "Ö",
        "Auml" => "Ä",
        "szlig" => "ß",
        "ntilde" => "ñ",
        "aacute" => "á",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "Eacute" => "É",
        "Agrave" => "À",
        "iquest" => "¿",
        "iexcl" => "¡",
        "rsquo" => "’",
        "lsquo" => "‘",
        "rdquo" => "”",
        "ldquo" => "“",
        "ndash" => "–",
        "mdash" => "—",
        "hellip" => "…",
        "laquo" => "«",
        "raquo" => "»",
        "euro" => "€",
        "copy" => "©",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flowed_paragraphs_are_joined_and_stuffing_undone() {
        let t = "This line is soft \r\nwrapped here.\r\n  indented\r\n> quoted soft \r\n> end\r\n-- \r\nsig";
        assert_eq!(
            unflow(t, false),
            "This line is soft wrapped here.\n indented\n> quoted soft end\n-- \nsig"
        );
        assert_eq!(unflow("ab \r\ncd", true), "abcd");
    }

    #[test]
    fn html_blocks_become_lines_and_entities_text() {
        let t = html_to_text(
            "<html><head><style>p{}</style></head><body><div>Hi,</div><div>the&nbsp;fix &amp; the <b>log</b>:</div><p>line&#x21;</p></body></html>",
        );
        assert_eq!(t, "Hi,\nthe fix & the log:\nline!");
    }

    #[test]
    fn header_blocks_in_several_languages_cut_the_history() {
        for (hdr, next) in [
            ("From: a", "Sent: b"),
            ("Von: a", "Gesendet: b"),
            ("De : a", "Envoyé : b"),
            ("De: a", "Enviado: b"),
            ("差出人: a", "送信日時: b"),
            ("*From:* a", "*Sent:* b"),
        ] {
            let t = format!("New text.\n\n{hdr}\n{next}\nold");
            assert_eq!(trim_reply(&t), "New text.", "{hdr}");
        }
        // A sentence that merely starts with a key is not a header block.
        assert_eq!(
            trim_reply("From: the logs I see it.\nAnd more."),
            "From: the logs I see it.\nAnd more."
        );
        // A From and a To line in the writer's own words are not a header block.
        let t = "The flow goes:\nFrom: our IdP\nTo: your service\nand then it fails.";
        assert_eq!(trim_reply(t), t);
        let t = "Our config:\nFrom: https://idp.acme.example/cb\nTo: https://app.acme.example\nSubject: redirect flow\nIs that right?";
        assert_eq!(trim_reply(t), t);
        let t = "The log says:\n2026-12-06 10:01:02 login ops@acme.example rejected:\ninvalid redirect_uri\nWhat now?";
        assert_eq!(trim_reply(t), t);
    }

    #[test]
    fn sentences_that_look_like_markers_stay() {
        for t in [
            "On Monday our security admin wrote:\nplease rotate the key.\nWe did.",
            "Sent from my laptop the login works, from the phone it does not.",
            "Von meinem Laptop aus geht es, vom Handy nicht.",
        ] {
            assert_eq!(trim_reply(t), t);
        }
        assert_eq!(trim_reply("It works.\n\nSent from my iPhone"), "It works.");
        assert_eq!(trim_reply("Geht.\n\nVon meinem iPhone gesendet"), "Geht.");
    }

    #[test]
    fn a_reply_below_the_quote_keeps_the_writer_s_lines() {
        let t = "On Mon, Dec 7, 2026 at 10:15 AM Support <support@casedesk.example> wrote:\n> Which kid?\n> Thanks\n\nIt is kid 2026-11.\n\n-- \nOlivia";
        assert_eq!(trim_reply(t), "It is kid 2026-11.");
    }
}
