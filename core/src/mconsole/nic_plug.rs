//! The mconsole's network cards (UML's net_kern.c `net_config`, `net_remove`): `config ethN=...`
//! plugs a card into the running machine, `config ethN` gives the switch it was configured with,
//! `remove ethN` unplugs it when the guest has it down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::wire::Reply;
use crate::dev::net::{NicTable, PortLink};
use crate::errno::Errno;
use crate::kernel::Kernel;

/// One card the mconsole knows.
struct Card {
    /// The switch's value (after `ethN=`), for `config ethN`.
    value: String,
    link: Arc<PortLink>,
}

/// A machine's hot-pluggable network cards.
pub struct NicPlug {
    table: Arc<NicTable>,
    cards: Mutex<HashMap<u32, Card>>,
}

impl NicPlug {
    /// The cards of `table`, whose boot cards are `boot` (name, link) configured by the `ethN=`
    /// words `words` (key, value; the last of a unit wins, as on the command line).
    pub fn new(table: Arc<NicTable>, boot: &[(String, Arc<PortLink>)], words: &[(Vec<u8>, Vec<u8>)]) -> NicPlug {
        let mut values = HashMap::new();
        for (key, val) in words {
            values.insert(String::from_utf8_lossy(key).into_owned(), String::from_utf8_lossy(val).into_owned());
        }
        let mut cards = HashMap::new();
        for (name, link) in boot {
            let Some(unit) = name.strip_prefix("eth").and_then(|u| u.parse::<u32>().ok()) else { continue };
            let value = values.get(name).cloned().unwrap_or_default();
            cards.insert(unit, Card { value, link: link.clone() });
        }
        NicPlug { table, cards: Mutex::new(cards) }
    }

    fn cards(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Card>> {
        self.cards.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `config ethN=TRANSPORT,...`: the command line's syntax. The card starts down.
    pub fn plug(&self, k: &Kernel, word: &str) -> Reply {
        let (unit, spec) = match umvm_netio::spec::parse_eth(word) {
            Ok(p) => p,
            Err(e) => return Reply::error(e.to_string()),
        };
        let name = format!("eth{unit}");
        let mut cards = self.cards();
        if cards.contains_key(&unit) || k.inet.configure(|st| st.nic_by_name(&name)).is_some() {
            return Reply::error(format!("Device {unit} already configured"));
        }
        for w in &spec.warnings {
            k.console_message(format!("{name}: {w}").as_bytes());
        }
        let port = match umvm_netio::open(&spec) {
            Ok(p) => p,
            Err(e) => return Reply::error(format!("{name}: {e}")),
        };
        let mac = port.mac().0;
        let link = Arc::new(PortLink::new(Arc::new(port), self.table.bell().clone()));
        // Listeners hear of the new link (RTM_NEWLINK), as of a hot-plugged card in Linux.
        if let Err(e) = k.inet.reconfigure(k, |st| {
            st.add_ethernet(&name, mac, link.clone());
            Ok(())
        }) {
            return Reply::errno(e.0, format!("{name}: {e:?}"));
        }
        self.table.add(link.clone());
        let value = word.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default();
        cards.insert(unit, Card { value, link });
        Reply::ok("")
    }

    /// `config ethN`: the switch the card was configured with ("" without such a card).
    pub fn query(&self, rest: &str) -> Reply {
        let Some(unit) = parse_unit(rest) else { return Reply::error("net_id: bad device number") };
        Reply::ok(self.cards().get(&unit).map(|c| c.value.clone()).unwrap_or_default())
    }

    /// `remove ethN`: refused while the guest has the card up (UML's -EBUSY for an open device).
    pub fn remove(&self, k: &Kernel, rest: &str) -> Reply {
        let Some(unit) = parse_unit(rest) else { return Reply::error("Couldn't parse device number") };
        let name = format!("eth{unit}");
        let mut cards = self.cards();
        // The stack is polled after (sockets the card's removal reset are told) and listeners get
        // RTM_DELLINK.
        let r = k.inet.reconfigure(k, |st| st.nic_by_name(&name).ok_or(Errno::ENODEV).and_then(|id| st.remove_nic(id)));
        match r {
            Ok(()) => {
                if let Some(card) = cards.remove(&unit) {
                    self.table.remove(&card.link);
                }
                Reply::ok("")
            }
            Err(Errno::EBUSY) => Reply::errno(libc::EBUSY, "Device is currently open"),
            Err(e) => Reply::errno(e.0, "Device doesn't exist"),
        }
    }
}

/// UML's net_id: a decimal number and nothing after.
fn parse_unit(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_as_umls_net_id() {
        assert_eq!(parse_unit("0"), Some(0));
        assert_eq!(parse_unit("12"), Some(12));
        assert_eq!(parse_unit(""), None);
        assert_eq!(parse_unit("0x"), None);
        assert_eq!(parse_unit("99999999999"), None);
    }
}
