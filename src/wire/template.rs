//! Template and options template records (RFC 7011 §3.4.1, §3.4.2) and
//! template withdrawals (§8.1): a record with a field count of 0; the
//! options-template withdrawal is the same 4 bytes, with no scope count.

use super::{be16, be32, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID};
use crate::error::{Error, ErrorKind};

/// One field specifier of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    /// Element id without the enterprise bit.
    pub id: u16,
    /// Field length; 65535 for variable length.
    pub length: u16,
    /// Enterprise number, 0 when the enterprise bit was clear.
    pub pen: u32,
}

/// An item found in a template set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateItem {
    /// A template (or options template when `scope_count` is `Some`).
    Template {
        id: u16,
        scope_count: Option<u16>,
        fields: Vec<FieldSpec>,
    },
    /// Withdrawal of one template id.
    Withdraw { id: u16 },
    /// Withdrawal of all templates of the set's kind (id 2 or 3).
    WithdrawAll,
}

/// Iterates the records of a template or options template set body.
pub struct TemplateSetIter<'a> {
    body: &'a [u8],
    pos: usize,
    options: bool,
    done: bool,
}

/// Iterate a template set's body (`set_id` 2 or 3).
pub fn parse_template_set(set_id: u16, body: &[u8]) -> TemplateSetIter<'_> {
    TemplateSetIter {
        body,
        pos: 0,
        options: set_id == OPTIONS_TEMPLATE_SET_ID,
        done: false,
    }
}

impl TemplateSetIter<'_> {
    fn item(&mut self) -> Result<Option<TemplateItem>, String> {
        let b = self.body;
        let rest = b.len() - self.pos;
        // Fewer than 4 bytes left, or an all-zero tail: set padding.
        if rest < 4 || b[self.pos..].iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let at = self.pos;
        let id = be16(b, at).ok_or("truncated template header")?;
        let count = be16(b, at + 2).ok_or("truncated template header")?;
        let kind_id = if self.options {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        if count == 0 {
            // RFC 7011 §8.1: withdrawals are 4 bytes for both kinds.
            self.pos = at + 4;
            return Ok(Some(if id == kind_id {
                TemplateItem::WithdrawAll
            } else if id < 256 {
                return Err(format!("withdrawal of reserved template id {id}"));
            } else {
                TemplateItem::Withdraw { id }
            }));
        }
        let mut pos = at + 4;
        let scope_count = if self.options {
            let sc = be16(b, pos).ok_or("options template header cut short")?;
            pos += 2;
            if sc == 0 || sc > count {
                return Err(format!(
                    "options template {id}: scope field count {sc} must be 1..={count}"
                ));
            }
            Some(sc)
        } else {
            None
        };
        if id < 256 {
            return Err(format!(
                "template id {id} is reserved (must be 256 or more)"
            ));
        }
        // Each field specifier is at least 4 bytes: refuse a count that
        // cannot fit before allocating for it.
        let max_fields = (b.len() - pos) / 4;
        if count as usize > max_fields {
            return Err(format!(
                "template {id} declares {count} fields but the set has room for at most {max_fields}"
            ));
        }
        let mut fields = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let raw = be16(b, pos).ok_or("field specifier cut short")?;
            let length = be16(b, pos + 2).ok_or("field specifier cut short")?;
            pos += 4;
            let pen = if raw & 0x8000 != 0 {
                let p = be32(b, pos).ok_or("enterprise number cut short")?;
                pos += 4;
                p
            } else {
                0
            };
            fields.push(FieldSpec {
                id: raw & 0x7fff,
                length,
                pen,
            });
        }
        self.pos = pos;
        Ok(Some(TemplateItem::Template {
            id,
            scope_count,
            fields,
        }))
    }
}

impl Iterator for TemplateSetIter<'_> {
    /// On error: the offset of the bad record within the set body.
    type Item = Result<TemplateItem, (usize, Error)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.pos;
        match self.item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(msg) => {
                self.done = true;
                Some(Err((at, Error::new(ErrorKind::BadTemplate(msg)))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_and_withdrawals() {
        // template 256: 2 fields, one enterprise; then withdraw 257; withdraw all.
        let body = [
            1, 0, 0, 2, 0, 8, 0, 4, 0x80, 1, 0, 2, 0, 0, 0x8a, 0xee, 1, 1, 0, 0, 0, 2, 0, 0,
        ];
        let items: Vec<_> = parse_template_set(2, &body).map(Result::unwrap).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0],
            TemplateItem::Template {
                id: 256,
                scope_count: None,
                fields: vec![
                    FieldSpec {
                        id: 8,
                        length: 4,
                        pen: 0
                    },
                    FieldSpec {
                        id: 1,
                        length: 2,
                        pen: 35566
                    },
                ],
            }
        );
        assert_eq!(items[1], TemplateItem::Withdraw { id: 257 });
        assert_eq!(items[2], TemplateItem::WithdrawAll);
    }

    #[test]
    fn options_withdrawal_is_four_bytes() {
        let body = [1, 0, 0, 0, 0, 3, 0, 0];
        let items: Vec<_> = parse_template_set(3, &body).map(Result::unwrap).collect();
        assert_eq!(
            items,
            vec![
                TemplateItem::Withdraw { id: 256 },
                TemplateItem::WithdrawAll
            ]
        );
    }

    #[test]
    fn reserved_id_and_overlong_count_are_errors() {
        assert!(parse_template_set(2, &[0, 255, 0, 1, 0, 8, 0, 4])
            .next()
            .unwrap()
            .is_err());
        assert!(parse_template_set(2, &[1, 0, 0xff, 0xff, 0, 8, 0, 4])
            .next()
            .unwrap()
            .is_err());
    }
}
