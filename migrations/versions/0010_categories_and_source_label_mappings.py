"""categories in the store, their report groups and each source's label mapping

The built-in categories and their group membership are seeded as this revision ships them
(the same as geo/categories.py at the time); users add their own afterwards.

Revision ID: 0010
Revises: 0009
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# code, Vietnamese label, English label: frozen here so that this revision always seeds the same rows
BUILTIN = [
    ("giet_nguoi", "Giết người", "Murder"),
    ("co_y_gay_thuong_tich", "Cố ý gây thương tích", "Assault / injury"),
    ("cuop_tai_san", "Cướp tài sản", "Robbery"),
    ("cuop_giat_tai_san", "Cướp giật tài sản", "Snatch theft"),
    ("trom_cap_tai_san", "Trộm cắp tài sản", "Theft"),
    ("lua_dao", "Lừa đảo chiếm đoạt tài sản", "Fraud"),
    ("danh_bac", "Đánh bạc, tổ chức đánh bạc", "Gambling"),
    ("mai_dam", "Mại dâm", "Prostitution"),
    ("ma_tuy", "Ma túy", "Drugs"),
    ("gay_roi", "Gây rối trật tự công cộng", "Public disorder"),
    ("chong_nguoi_thi_hanh_cong_vu", "Chống người thi hành công vụ", "Resisting officers"),
    ("tin_dung_den", "Tín dụng đen", "Loan-sharking"),
    ("vu_khi", "Vũ khí, vật liệu nổ, công cụ hỗ trợ", "Weapons and explosives"),
    ("xam_hai_tinh_duc", "Xâm hại tình dục", "Sexual abuse"),
    ("khac", "Khác", "Other"),
]
GROUPS = {
    "duong_pho": ["cuop_tai_san", "cuop_giat_tai_san", "trom_cap_tai_san", "gay_roi"],
    "trat_tu_xa_hoi": [c for c, _vi, _en in BUILTIN if c not in ("ma_tuy", "khac")],
    "te_nan": ["danh_bac", "mai_dam", "ma_tuy"],
}


def upgrade() -> None:
    category = op.create_table(
        "category",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label_vi", sa.String(length=200), nullable=False),
        sa.Column("label_en", sa.String(length=200), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    group = op.create_table(
        "category_group",
        sa.Column("group_code", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["category"], ["category.code"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_code", "category"),
    )
    op.create_table(
        "source_category_map",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("label_folded", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["category"], ["category.code"]),
        sa.PrimaryKeyConstraint("source", "label_folded"),
    )
    now = dt.datetime.now(dt.timezone.utc)
    op.bulk_insert(category, [dict(code=c, label_vi=vi, label_en=en, builtin=True, changed_at=now)
                              for c, vi, en in BUILTIN])
    op.bulk_insert(group, [dict(group_code=g, category=c) for g, members in GROUPS.items() for c in members])


def downgrade() -> None:
    op.drop_table("source_category_map")
    op.drop_table("category_group")
    op.drop_table("category")
