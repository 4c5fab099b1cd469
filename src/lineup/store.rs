//! The `channels` table. Nothing else runs SQL on it.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Channel, ChannelId, ChannelSettings, GuideNumber, Lineup};

/// Errors reading or writing channels.
#[derive(Debug, thiserror::Error)]
pub enum LineupStoreError {
    /// SQLite failed.
    #[error("channels table: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Another channel already has this number.
    #[error("channel number {0} is already taken")]
    NumberTaken(GuideNumber),
    /// No such channel.
    #[error("no channel {0}")]
    NotFound(String),
    /// The database task failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A stored row could not be decoded.
    #[error("channel {id}: stored settings are invalid: {source}")]
    BadSettings {
        /// Channel id.
        id: i64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// What a new channel needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    /// Number.
    pub number: GuideNumber,
    /// Name.
    pub name: String,
    /// Call sign.
    pub call_sign: String,
    /// Logo image.
    pub logo: Option<std::path::PathBuf>,
    /// Settings.
    pub settings: ChannelSettings,
}

const COLUMNS: &str = "id, number, name, call_sign, xmltv_id, logo_path, settings, enabled";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Channel, Option<serde_json::Error>)> {
    let id: i64 = r.get(0)?;
    let number: String = r.get(1)?;
    let settings_json: String = r.get(6)?;
    let (settings, err) = match serde_json::from_str(&settings_json) {
        Ok(s) => (s, None),
        Err(e) => match repaired(id, &settings_json) {
            Some(s) => (s, None),
            None => (ChannelSettings::default(), Some(e)),
        },
    };
    let channel = Channel {
        id: ChannelId(id),
        number: number
            .parse()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?,
        name: r.get(2)?,
        call_sign: r.get(3)?,
        xmltv_id: r.get(4)?,
        logo: r.get::<_, Option<String>>(5)?.map(Into::into),
        settings,
        enabled: r.get(7)?,
    };
    Ok((channel, err))
}

/// Settings stored before the checked values' rules were shared, brought within them
/// ([`crate::lineup::setting::repair_stored`]); `None` if they are broken otherwise.
fn repaired(id: i64, json: &str) -> Option<ChannelSettings> {
    let mut v: serde_json::Value = serde_json::from_str(json).ok()?;
    let changed = crate::lineup::setting::repair_stored(&mut v);
    let settings = serde_json::from_value(v).ok()?;
    tracing::warn!(channel = id, changed = %changed.join(", "), "stored channel settings out of range: used within range");
    Some(settings)
}

fn checked(row: (Channel, Option<serde_json::Error>)) -> Result<Channel, LineupStoreError> {
    match row {
        (c, None) => Ok(c),
        (c, Some(source)) => Err(LineupStoreError::BadSettings { id: c.id.0, source }),
    }
}

/// Add a channel. Its XMLTV id is derived once from its id and never changes.
pub fn insert(conn: &Connection, new: &NewChannel, now_ms: i64) -> Result<Channel, LineupStoreError> {
    if by_number(conn, new.number.as_str())?.is_some() {
        return Err(LineupStoreError::NumberTaken(new.number.clone()));
    }
    let settings = serde_json::to_string(&new.settings).expect("settings serialise");
    let tmp_xmltv = format!("pending-{}-{now_ms}", new.number);
    conn.execute(
        "INSERT INTO channels (number, name, call_sign, xmltv_id, logo_path, settings, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
        params![
            new.number.as_str(),
            new.name,
            new.call_sign,
            tmp_xmltv,
            new.logo.as_ref().map(|p| p.display().to_string()),
            settings,
            now_ms
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute("UPDATE channels SET xmltv_id = ?1 WHERE id = ?2", params![format!("retrovue.ch{id}"), id])?;
    get(conn, ChannelId(id))?.ok_or_else(|| LineupStoreError::NotFound(id.to_string()))
}

/// Replace a channel's editable fields (the XMLTV id stays).
pub fn update(conn: &Connection, channel: &Channel, now_ms: i64) -> Result<(), LineupStoreError> {
    if let Some(other) = by_number(conn, channel.number.as_str())?
        && other.id != channel.id
    {
        return Err(LineupStoreError::NumberTaken(channel.number.clone()));
    }
    let settings = serde_json::to_string(&channel.settings).expect("settings serialise");
    let n = conn.execute(
        "UPDATE channels SET number = ?1, name = ?2, call_sign = ?3, logo_path = ?4, settings = ?5, enabled = ?6,
                updated_at = ?7 WHERE id = ?8",
        params![
            channel.number.as_str(),
            channel.name,
            channel.call_sign,
            channel.logo.as_ref().map(|p| p.display().to_string()),
            settings,
            channel.enabled,
            now_ms,
            channel.id.0
        ],
    )?;
    if n == 0 {
        return Err(LineupStoreError::NotFound(channel.id.to_string()));
    }
    Ok(())
}

/// Remove a channel (its schedule goes with it).
pub fn remove(conn: &Connection, id: ChannelId) -> Result<(), LineupStoreError> {
    let n = conn.execute("DELETE FROM channels WHERE id = ?1", [id.0])?;
    if n == 0 {
        return Err(LineupStoreError::NotFound(id.to_string()));
    }
    Ok(())
}

/// One channel by id.
pub fn get(conn: &Connection, id: ChannelId) -> Result<Option<Channel>, LineupStoreError> {
    let row = conn.query_row(&format!("SELECT {COLUMNS} FROM channels WHERE id = ?1"), [id.0], from_row).optional()?;
    row.map(checked).transpose()
}

/// One channel by number.
pub fn by_number(conn: &Connection, number: &str) -> Result<Option<Channel>, LineupStoreError> {
    let row =
        conn.query_row(&format!("SELECT {COLUMNS} FROM channels WHERE number = ?1"), [number], from_row).optional()?;
    row.map(checked).transpose()
}

/// Every channel (enabled or not), sorted by number.
pub fn list(conn: &Connection) -> Result<Vec<Channel>, LineupStoreError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM channels"))?;
    let rows = st.query_map([], from_row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(checked(r?)?);
    }
    out.sort_by_key(|c| c.number.sort_key());
    Ok(out)
}

/// The enabled channels as a snapshot.
pub fn lineup(conn: &Connection) -> Result<Lineup, LineupStoreError> {
    Ok(Lineup { channels: list(conn)?.into_iter().filter(|c| c.enabled).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn new(number: &str, name: &str) -> NewChannel {
        NewChannel {
            number: number.parse().unwrap(),
            name: name.into(),
            call_sign: String::new(),
            logo: None,
            settings: ChannelSettings::default(),
        }
    }

    #[test]
    fn channels_keep_their_xmltv_id_through_renumbering() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let mut a = insert(c, &new("5", "Sitcom Gold"), 1).unwrap();
            let b = insert(c, &new("12", "Movie Channel"), 1).unwrap();
            insert(c, &new("3", "Cartoons"), 1).unwrap();
            assert!(matches!(insert(c, &new("5", "Dup"), 1), Err(LineupStoreError::NumberTaken(_))));
            let id = a.xmltv_id.clone();
            a.number = "7".parse().unwrap();
            a.name = "Sitcoms".into();
            update(c, &a, 2).unwrap();
            let again = get(c, a.id).unwrap().unwrap();
            assert_eq!((again.number.as_str(), again.xmltv_id.as_str()), ("7", id.as_str()));
            let numbers: Vec<String> = list(c).unwrap().into_iter().map(|c| c.number.to_string()).collect();
            assert_eq!(numbers, ["3", "7", "12"]);
            let mut b2 = b.clone();
            b2.number = "3".parse().unwrap();
            assert!(matches!(update(c, &b2, 3), Err(LineupStoreError::NumberTaken(_))));
            remove(c, b.id).unwrap();
            assert_eq!(lineup(c).unwrap().channels.len(), 2);
        });
    }

    #[test]
    fn settings_stored_before_the_shared_rules_still_read_within_them() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let a = insert(c, &new("5", "Sitcom Gold"), 1).unwrap();
            // As the CLI and `channel import` stored them before: a 50 kbit/s channel, an
            // opacity above 1, a rating limit nothing knows.
            let stored = r#"{"profile":{"video_kbps":50},"bug":{"opacity":1.5},"rating_limit":"nonsense"}"#;
            c.execute("UPDATE channels SET settings = ?1 WHERE id = ?2", rusqlite::params![stored, a.id.0]).unwrap();
            let s = get(c, a.id).unwrap().unwrap().settings;
            assert_eq!((s.profile.video_kbps.get(), s.bug.opacity.get()), (200, 1.0));
            assert_eq!(s.rating_limit.map(String::from).as_deref(), Some("TV-Y"), "the strictest, not none");
            assert_eq!(lineup(c).unwrap().channels.len(), 1, "the lineup still reads");
        });
    }
}
