//! Reading requests and writing downloads that both the API (`api`) and the pages (`ui`)
//! need: multipart uploads and stored files (`files`), the audit export (`export`). Neither
//! `api` nor `ui` imports the other; what they share is here.

pub mod export;
pub mod files;
pub mod paging;
