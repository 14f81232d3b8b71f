//! Every word the tracking page shows, in each language it speaks. A struct rather than a map:
//! a phrase missing from one language does not compile.

use crate::model::ChoiceKind;
use crate::status::{ExceptionReason, ShipmentStatus};
use serde::Serialize;

/// The page's languages; anything else reads English.
pub const LANGUAGES: [&str; 2] = ["en", "th"];

#[derive(Debug, Serialize)]
pub struct Phrases {
    pub lang: &'static str,
    /// The link to the other language.
    pub other_language: &'static str,
    pub other_lang: &'static str,
    pub title: &'static str,
    /// `{name}` is the customer's first name.
    pub greeting: &'static str,
    /// `{order}` is the order's number.
    pub order: &'static str,
    /// `{city}` is the delivery city.
    pub delivering_to: &'static str,
    pub progress: &'static str,
    pub steps: [&'static str; 5],
    pub estimate: &'static str,
    pub delayed: &'static str,
    /// `{date}` is the first estimate.
    pub originally: &'static str,
    pub delivered_on: &'static str,
    pub history: &'static str,
    pub no_events: &'static str,
    pub carrier: &'static str,
    pub tracking_number: &'static str,
    /// `{carrier}` is the carrier's name.
    pub carrier_link: &'static str,
    pub items: &'static str,
    pub quantity: &'static str,
    pub other_parcels: &'static str,
    pub not_shipped_yet: &'static str,
    pub view_parcel: &'static str,
    pub choice_heading: &'static str,
    pub choice_intro: &'static str,
    pub choice_date: &'static str,
    pub choice_note: &'static str,
    pub choice_note_hint: &'static str,
    pub choice_submit: &'static str,
    pub choice_change: &'static str,
    /// `{brand}` is the shop's name.
    pub choice_saved: &'static str,
    pub choice_current: &'static str,
    pub recommendations: &'static str,
    pub help: &'static str,
    /// `{brand}` is the shop's name.
    pub contact: &'static str,
    pub not_found: &'static str,
    pub not_found_detail: &'static str,
    pub choice_closed: &'static str,
    pub choice_closed_detail: &'static str,
    pub back: &'static str,
    pub error_choice: &'static str,
    pub error_date: &'static str,
    pub error_note_missing: &'static str,
    pub error_note_long: &'static str,
    pub refused: &'static str,
    /// After a time of day (`14:05 น.` in Thai).
    pub time_suffix: &'static str,
}

const EN: Phrases = Phrases {
    lang: "en",
    other_language: "ภาษาไทย",
    other_lang: "th",
    title: "Track your order",
    greeting: "Hi {name},",
    order: "Order {order}",
    delivering_to: "Delivering to {city}",
    progress: "Journey",
    steps: [
        "Ordered",
        "Shipped",
        "In transit",
        "Out for delivery",
        "Delivered",
    ],
    estimate: "Estimated delivery",
    delayed: "Delayed: now expected",
    originally: "Originally {date}",
    delivered_on: "Delivered",
    history: "Tracking history",
    no_events: "No updates from the carrier yet.",
    carrier: "Carrier",
    tracking_number: "Tracking number",
    carrier_link: "Track on the {carrier} website",
    items: "In this parcel",
    quantity: "Qty",
    other_parcels: "Other parcels in this order",
    not_shipped_yet: "Not shipped yet",
    view_parcel: "Track this parcel",
    choice_heading: "What should happen next?",
    choice_intro: "Choose how you would like to receive your parcel.",
    choice_date: "Day",
    choice_note: "Details",
    choice_note_hint:
        "Where to leave it, your neighbour's name and house number, or the corrected address.",
    choice_submit: "Send my choice",
    choice_change: "Changed your mind? Choose again:",
    choice_saved: "Thank you. {brand} has your choice and will pass it to the carrier.",
    choice_current: "Your choice",
    recommendations: "You might also like",
    help: "Need help?",
    contact: "Contact {brand}",
    not_found: "We can't find this parcel",
    not_found_detail:
        "The link may be incomplete. Please use the link in your latest message from us.",
    choice_closed: "There is nothing left to choose",
    choice_closed_detail:
        "This parcel's journey is over, so its delivery can't be changed any more.",
    back: "Back to tracking",
    error_choice: "Please choose one of the options.",
    error_date: "Please choose a day from the list.",
    error_note_missing: "Please add the details for this option.",
    error_note_long: "Please keep the details under 300 characters.",
    refused: "This form can only be sent from the tracking page.",
    time_suffix: "",
};

const TH: Phrases = Phrases {
    lang: "th",
    other_language: "English",
    other_lang: "en",
    title: "ติดตามคำสั่งซื้อ",
    greeting: "สวัสดีคุณ{name}",
    order: "คำสั่งซื้อ {order}",
    delivering_to: "จัดส่งไปที่ {city}",
    progress: "สถานะการจัดส่ง",
    steps: ["สั่งซื้อแล้ว", "ส่งออกแล้ว", "ระหว่างขนส่ง", "กำลังนำจ่าย", "ได้รับแล้ว"],
    estimate: "วันที่คาดว่าจะได้รับ",
    delayed: "ล่าช้า คาดว่าจะได้รับ",
    originally: "กำหนดเดิม {date}",
    delivered_on: "จัดส่งสำเร็จเมื่อ",
    history: "ประวัติการจัดส่ง",
    no_events: "ยังไม่มีข้อมูลจากบริษัทขนส่ง",
    carrier: "บริษัทขนส่ง",
    tracking_number: "หมายเลขพัสดุ",
    carrier_link: "ติดตามที่เว็บไซต์ {carrier}",
    items: "สินค้าในพัสดุนี้",
    quantity: "จำนวน",
    other_parcels: "พัสดุอื่นในคำสั่งซื้อนี้",
    not_shipped_yet: "ยังไม่ได้จัดส่ง",
    view_parcel: "ติดตามพัสดุนี้",
    choice_heading: "ต้องการให้จัดส่งอย่างไรต่อ?",
    choice_intro: "เลือกวิธีที่คุณต้องการรับพัสดุ",
    choice_date: "วัน",
    choice_note: "รายละเอียด",
    choice_note_hint: "จุดที่ให้วางพัสดุ ชื่อและบ้านเลขที่ของเพื่อนบ้าน หรือที่อยู่ที่ถูกต้อง",
    choice_submit: "ส่งตัวเลือก",
    choice_change: "ต้องการเปลี่ยนตัวเลือก? เลือกใหม่ได้ที่นี่:",
    choice_saved: "ขอบคุณค่ะ {brand} ได้รับตัวเลือกของคุณแล้ว และจะแจ้งบริษัทขนส่งให้",
    choice_current: "ตัวเลือกของคุณ",
    recommendations: "สินค้าที่คุณอาจชอบ",
    help: "ต้องการความช่วยเหลือ?",
    contact: "ติดต่อ {brand}",
    not_found: "ไม่พบพัสดุนี้",
    not_found_detail: "ลิงก์อาจไม่ครบถ้วน กรุณาใช้ลิงก์ในข้อความล่าสุดจากเรา",
    choice_closed: "ไม่สามารถเลือกได้แล้ว",
    choice_closed_detail: "การจัดส่งพัสดุนี้สิ้นสุดแล้ว จึงไม่สามารถเปลี่ยนแปลงได้อีก",
    back: "กลับไปหน้าติดตามพัสดุ",
    error_choice: "กรุณาเลือกหนึ่งตัวเลือก",
    error_date: "กรุณาเลือกวันจากรายการ",
    error_note_missing: "กรุณากรอกรายละเอียดสำหรับตัวเลือกนี้",
    error_note_long: "กรุณากรอกรายละเอียดไม่เกิน 300 ตัวอักษร",
    refused: "ส่งแบบฟอร์มนี้ได้จากหน้าติดตามพัสดุเท่านั้น",
    time_suffix: " น.",
};

/// The phrases of a language the page speaks (`en` for any other).
pub fn phrases(lang: &str) -> &'static Phrases {
    match lang {
        "th" => &TH,
        _ => &EN,
    }
}

/// A status in words.
pub fn status_label(status: ShipmentStatus, lang: &str) -> &'static str {
    use ShipmentStatus::*;
    let thai = lang == "th";
    match (status, thai) {
        (Pending, false) => "Order received",
        (Pending, true) => "ได้รับคำสั่งซื้อแล้ว",
        (InfoReceived, false) => "Preparing to ship",
        (InfoReceived, true) => "กำลังเตรียมจัดส่ง",
        (InTransit, false) => "In transit",
        (InTransit, true) => "อยู่ระหว่างการขนส่ง",
        (OutForDelivery, false) => "Out for delivery",
        (OutForDelivery, true) => "กำลังนำจ่าย",
        (AvailableForPickup, false) => "Ready for pickup",
        (AvailableForPickup, true) => "พร้อมให้รับที่จุดรับพัสดุ",
        (FailedAttempt, false) => "Delivery attempt failed",
        (FailedAttempt, true) => "นำจ่ายไม่สำเร็จ",
        (Exception, false) => "Delivery problem",
        (Exception, true) => "การจัดส่งมีปัญหา",
        (ReturnToSender, false) => "Returning to sender",
        (ReturnToSender, true) => "กำลังตีกลับไปยังผู้ส่ง",
        (Delivered, false) => "Delivered",
        (Delivered, true) => "จัดส่งสำเร็จแล้ว",
        (Cancelled, false) => "Shipment cancelled",
        (Cancelled, true) => "ยกเลิกการจัดส่งแล้ว",
        (Expired, false) => "No recent updates",
        (Expired, true) => "ไม่มีความเคลื่อนไหวล่าสุด",
    }
}

/// What the shopper should know when the journey is not going to plan; `None` when it is.
pub fn alert(
    status: ShipmentStatus,
    reason: Option<ExceptionReason>,
    lang: &str,
) -> Option<&'static str> {
    use ExceptionReason as R;
    use ShipmentStatus::*;
    let thai = lang == "th";
    let text = match (status, reason) {
        (FailedAttempt, _) => match thai {
            false => {
                "The carrier could not deliver your parcel. Tell us below what should happen next."
            }
            true => "บริษัทขนส่งนำจ่ายพัสดุไม่สำเร็จ กรุณาเลือกด้านล่างว่าต้องการให้จัดส่งอย่างไรต่อ",
        },
        (Exception, Some(R::Delay)) => match thai {
            false => "Your parcel is delayed. We will keep you posted.",
            true => "พัสดุของคุณล่าช้า เราจะแจ้งความคืบหน้าให้ทราบ",
        },
        (Exception, Some(R::Customs)) => match thai {
            false => "Your parcel is being checked by customs.",
            true => "พัสดุของคุณอยู่ระหว่างการตรวจสอบของศุลกากร",
        },
        (Exception, Some(R::Damaged)) => match thai {
            false => "The carrier reported damage to your parcel. We will be in touch.",
            true => "บริษัทขนส่งแจ้งว่าพัสดุเสียหาย เราจะติดต่อกลับโดยเร็ว",
        },
        (Exception, Some(R::Address)) => match thai {
            false => "The carrier could not deliver to the address. Please check it below.",
            true => "บริษัทขนส่งไม่สามารถจัดส่งตามที่อยู่ได้ กรุณาตรวจสอบด้านล่าง",
        },
        (Exception, Some(R::Recipient)) => match thai {
            false => "The carrier could not reach you. Tell us below what should happen next.",
            true => "บริษัทขนส่งติดต่อผู้รับไม่ได้ กรุณาเลือกด้านล่างว่าต้องการให้จัดส่งอย่างไรต่อ",
        },
        (Exception, Some(R::Lost)) => match thai {
            false => "The carrier cannot locate your parcel. We are looking into it.",
            true => "บริษัทขนส่งไม่พบพัสดุของคุณ เรากำลังตรวจสอบ",
        },
        (Exception, Some(R::Weather)) => match thai {
            false => "Weather is delaying deliveries on your parcel's route.",
            true => "สภาพอากาศทำให้การจัดส่งพัสดุของคุณล่าช้า",
        },
        (Exception, _) => match thai {
            false => "There is a problem with the delivery. We are looking into it.",
            true => "การจัดส่งมีปัญหา เรากำลังตรวจสอบ",
        },
        (ReturnToSender, _) => match thai {
            false => "Your parcel is on its way back to us. Contact us if you still want it.",
            true => "พัสดุกำลังถูกส่งกลับมาที่ร้าน หากยังต้องการสินค้า กรุณาติดต่อเรา",
        },
        (Cancelled, _) => match thai {
            false => "This shipment was cancelled.",
            true => "การจัดส่งนี้ถูกยกเลิกแล้ว",
        },
        (Expired, _) => match thai {
            false => "The carrier has not sent an update for a while. We are checking with them.",
            true => "บริษัทขนส่งไม่ได้อัปเดตสถานะมาระยะหนึ่งแล้ว เรากำลังตรวจสอบ",
        },
        _ => return None,
    };
    Some(text)
}

/// A delivery choice in words.
pub fn choice_label(choice: ChoiceKind, lang: &str) -> &'static str {
    use ChoiceKind::*;
    match (choice, lang == "th") {
        (Redeliver, false) => "Deliver again on a day I choose",
        (Redeliver, true) => "นำจ่ายอีกครั้งในวันที่ฉันเลือก",
        (SafePlace, false) => "Leave it in a safe place",
        (SafePlace, true) => "วางไว้ในที่ปลอดภัย",
        (Neighbour, false) => "Leave it with a neighbour",
        (Neighbour, true) => "ฝากไว้กับเพื่อนบ้าน",
        (PickupPoint, false) => "I will collect it from a pickup point",
        (PickupPoint, true) => "ฉันจะไปรับเองที่จุดรับพัสดุ",
        (CorrectAddress, false) => "Correct the address",
        (CorrectAddress, true) => "แก้ไขที่อยู่",
    }
}
