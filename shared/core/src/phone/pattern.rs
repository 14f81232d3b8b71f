//! The regular expressions of libphonenumber's metadata, matched against strings of ASCII digits.
//!
//! The metadata uses a small part of the regex language: digits, `\d`, digit classes with
//! ranges, groups (capturing and `(?:…)`), alternation, `?`, `{n}`, `{n,m}` and `$`. That part is
//! all this understands; a pattern using anything else is refused when it is parsed, and the
//! tests parse every pattern in the table. Matching backtracks in the order Java's and the
//! `regex` crate's leftmost-first engines prefer, so the captures a prefix match reports are the
//! same as theirs; a step budget bounds the work, although the inputs are at most a few dozen
//! digits.

/// Work one match may do before it gives up (and reports no match).
const STEP_BUDGET: u32 = 200_000;

/// Capturing groups a pattern may have; the metadata uses two at most.
const MAX_GROUPS: usize = 4;

#[derive(Debug)]
enum Node {
    /// One digit from the set (bit `d` for digit `d`).
    Digits(u16),
    Group {
        alternatives: Vec<Vec<Node>>,
        capture: Option<usize>,
    },
    Repeat {
        node: Box<Node>,
        min: u8,
        max: u8,
    },
    End,
}

/// A parsed pattern, ready to match.
#[derive(Debug)]
pub(super) struct Pattern {
    alternatives: Vec<Vec<Node>>,
    groups: usize,
}

/// Where each group matched, as byte ranges of the input.
pub(super) type Captures = [Option<(usize, usize)>; MAX_GROUPS];

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pattern uses a construct outside libphonenumber's subset at byte {0}")]
pub(super) struct Unsupported(pub usize);

impl Pattern {
    pub(super) fn parse(source: &str) -> Result<Self, Unsupported> {
        let mut parser = Parser {
            bytes: source.as_bytes(),
            at: 0,
            groups: 0,
        };
        let alternatives = parser.alternation()?;
        if parser.at != parser.bytes.len() {
            return Err(Unsupported(parser.at));
        }
        Ok(Self {
            alternatives,
            groups: parser.groups,
        })
    }

    /// A pattern that matches nothing.
    pub(super) fn never() -> Self {
        Self {
            alternatives: Vec::new(),
            groups: 0,
        }
    }

    /// Number of capturing groups.
    pub(super) fn groups(&self) -> usize {
        self.groups
    }

    /// Whether the whole of `digits` matches (Java's `matches()`).
    pub(super) fn matches(&self, digits: &str) -> bool {
        self.run(digits.as_bytes(), true).is_some()
    }

    /// The end of the preferred match that starts at the beginning of `digits` (Java's
    /// `lookingAt()`), with its captures.
    pub(super) fn looking_at(&self, digits: &str) -> Option<(usize, Captures)> {
        self.run(digits.as_bytes(), false)
    }

    fn run(&self, input: &[u8], whole: bool) -> Option<(usize, Captures)> {
        let mut run = Run {
            input,
            steps: 0,
            found: None,
        };
        let mut captures: Captures = [None; MAX_GROUPS];
        let matched = run.alternatives(
            &self.alternatives,
            0,
            &mut captures,
            &mut |run, end, caps| {
                if whole && end != run.input.len() {
                    return false;
                }
                run.found = Some((end, *caps));
                true
            },
        );
        if matched {
            run.found
        } else {
            None
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    groups: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn alternation(&mut self) -> Result<Vec<Vec<Node>>, Unsupported> {
        let mut alternatives = vec![self.sequence()?];
        while self.eat(b'|') {
            alternatives.push(self.sequence()?);
        }
        Ok(alternatives)
    }

    fn sequence(&mut self) -> Result<Vec<Node>, Unsupported> {
        let mut nodes = Vec::new();
        while let Some(byte) = self.peek() {
            let node = match byte {
                b'|' | b')' => break,
                b'0'..=b'9' => {
                    self.at += 1;
                    Node::Digits(1 << (byte - b'0'))
                }
                b'\\' => {
                    self.at += 1;
                    if !self.eat(b'd') {
                        return Err(Unsupported(self.at));
                    }
                    Node::Digits(0x3ff)
                }
                b'[' => self.class()?,
                b'(' => self.group()?,
                b'$' => {
                    self.at += 1;
                    Node::End
                }
                _ => return Err(Unsupported(self.at)),
            };
            nodes.push(self.quantified(node)?);
        }
        Ok(nodes)
    }

    fn class(&mut self) -> Result<Node, Unsupported> {
        self.at += 1; // '['
        let mut set = 0u16;
        loop {
            let first = match self.peek() {
                Some(b']') if set != 0 => {
                    self.at += 1;
                    return Ok(Node::Digits(set));
                }
                Some(b'\\') => {
                    self.at += 1;
                    if !self.eat(b'd') {
                        return Err(Unsupported(self.at));
                    }
                    set |= 0x3ff;
                    continue;
                }
                Some(d @ b'0'..=b'9') => d - b'0',
                _ => return Err(Unsupported(self.at)),
            };
            self.at += 1;
            let last = if self.peek() == Some(b'-')
                && matches!(self.bytes.get(self.at + 1), Some(b'0'..=b'9'))
            {
                let last = self.bytes.get(self.at + 1).map_or(first, |d| d - b'0');
                self.at += 2;
                last
            } else {
                first
            };
            if last < first {
                return Err(Unsupported(self.at));
            }
            for digit in first..=last {
                set |= 1 << digit;
            }
        }
    }

    fn group(&mut self) -> Result<Node, Unsupported> {
        self.at += 1; // '('
        let capture = if self.eat(b'?') {
            if !self.eat(b':') {
                return Err(Unsupported(self.at));
            }
            None
        } else {
            self.groups += 1;
            if self.groups >= MAX_GROUPS {
                return Err(Unsupported(self.at));
            }
            Some(self.groups)
        };
        let alternatives = self.alternation()?;
        if !self.eat(b')') {
            return Err(Unsupported(self.at));
        }
        Ok(Node::Group {
            alternatives,
            capture,
        })
    }

    fn quantified(&mut self, node: Node) -> Result<Node, Unsupported> {
        let (min, max) = match self.peek() {
            Some(b'?') => {
                self.at += 1;
                (0, 1)
            }
            Some(b'{') => {
                self.at += 1;
                let min = self.number()?;
                let max = if self.eat(b',') { self.number()? } else { min };
                if !self.eat(b'}') || max < min || max == 0 {
                    return Err(Unsupported(self.at));
                }
                (min, max)
            }
            _ => return Ok(node),
        };
        if matches!(self.peek(), Some(b'?' | b'{' | b'*' | b'+')) {
            return Err(Unsupported(self.at));
        }
        Ok(Node::Repeat {
            node: Box::new(node),
            min,
            max,
        })
    }

    fn number(&mut self) -> Result<u8, Unsupported> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(Unsupported(start))
    }
}

/// What the rest of the pattern does once a part has matched up to a position.
type Next<'n> = dyn FnMut(&mut Run<'_>, usize, &mut Captures) -> bool + 'n;

struct Run<'i> {
    input: &'i [u8],
    steps: u32,
    found: Option<(usize, Captures)>,
}

impl Run<'_> {
    /// Counts a step; false once the budget is spent, which fails every path left.
    fn step(&mut self) -> bool {
        self.steps += 1;
        self.steps <= STEP_BUDGET
    }

    fn alternatives(
        &mut self,
        alternatives: &[Vec<Node>],
        at: usize,
        caps: &mut Captures,
        next: &mut Next<'_>,
    ) -> bool {
        alternatives
            .iter()
            .any(|sequence| self.sequence(sequence, at, caps, next))
    }

    fn sequence(
        &mut self,
        nodes: &[Node],
        at: usize,
        caps: &mut Captures,
        next: &mut Next<'_>,
    ) -> bool {
        match nodes.split_first() {
            None => next(self, at, caps),
            Some((first, rest)) => self.node(first, at, caps, &mut |run, at, caps| {
                run.sequence(rest, at, caps, next)
            }),
        }
    }

    fn node(&mut self, node: &Node, at: usize, caps: &mut Captures, next: &mut Next<'_>) -> bool {
        if !self.step() {
            return false;
        }
        match node {
            Node::Digits(set) => match self.input.get(at) {
                Some(byte @ b'0'..=b'9') if set & (1 << (byte - b'0')) != 0 => {
                    next(self, at + 1, caps)
                }
                _ => false,
            },
            Node::End => at == self.input.len() && next(self, at, caps),
            Node::Group {
                alternatives,
                capture: None,
            } => self.alternatives(alternatives, at, caps, next),
            Node::Group {
                alternatives,
                capture: Some(group),
            } => {
                let group = *group;
                let start = at;
                self.alternatives(alternatives, at, caps, &mut |run, end, caps| {
                    let before = caps[group];
                    caps[group] = Some((start, end));
                    if next(run, end, caps) {
                        return true;
                    }
                    caps[group] = before;
                    false
                })
            }
            Node::Repeat { node, min, max } => self.repeat(node, *min, *max, 0, at, caps, next),
        }
    }

    /// Greedy: one more repetition is tried before stopping here.
    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &mut self,
        node: &Node,
        min: u8,
        max: u8,
        count: u8,
        at: usize,
        caps: &mut Captures,
        next: &mut Next<'_>,
    ) -> bool {
        if count < max
            && self.node(node, at, caps, &mut |run, after, caps| {
                // Past the minimum, a repetition that consumed nothing would only repeat itself.
                (after != at || count < min)
                    && run.repeat(node, min, max, count + 1, after, caps, next)
            })
        {
            return true;
        }
        count >= min && next(self, at, caps)
    }
}
